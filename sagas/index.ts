/**
 * The drone-delivery demo: its sagas (pure: the saga files import only the SDK), its participants and settings. The
 * parcel-order saga composes: a fan-out over an order's parcels, and a drone delivery as a child saga.
 */
export * from './drone-delivery.input';
export * from './drone-delivery.participants';
export { droneDeliverySaga } from './drone-delivery.saga';
export * from './parcel-order.input';
export { parcelOrderSaga } from './parcel-order.saga';
export * from './drone-delivery.client';
export * from './demo-transport';
export * from './demo.config';
