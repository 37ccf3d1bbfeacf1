/** The drone-delivery demo: its saga (pure: the saga file imports only the SDK), its participants and settings. */
export * from './drone-delivery.input';
export * from './drone-delivery.participants';
export { droneDeliverySaga } from './drone-delivery.saga';
export * from './drone-delivery.client';
export * from './demo-transport';
export * from './demo.config';
