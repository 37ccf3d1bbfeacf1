import { Get } from '@nestjs/common';
import { ApiResponse } from '@nestjs/swagger';
import { AgentStore } from '../../store/agent-store';
import { CurrentPrincipal, type Principal, RequireRole, ScopedBy, allowsType } from '../http/auth';
import { ApiErrors } from '../http/openapi';
import { SagaApiController } from '../http/saga-api-controller';

const AGENTS_SCHEMA = {
  type: 'object',
  required: ['items'],
  properties: {
    items: {
      type: 'array',
      items: {
        type: 'object',
        required: ['id', 'host', 'pid', 'sagaTypes', 'startedAt', 'seenAt'],
        properties: {
          id: { type: 'string', example: 'order-7f9c:4242:1a2b3c4d' },
          host: { type: 'string', example: 'order-7f9c' },
          pid: { type: 'integer', example: 4242 },
          sagaTypes: {
            type: 'array',
            items: { type: 'string' },
            description: 'The saga types and versions it runs, as type@version',
            example: ['order@1', 'order@2'],
          },
          startedAt: { type: 'string', format: 'date-time' },
          seenAt: { type: 'string', format: 'date-time', description: 'Its last heartbeat (every 5 s)' },
        },
      },
    },
  },
};

/** The agents that run now (heard of in the last 15 s) and the saga types they have the code for. */
@SagaApiController('v1/agents')
export class AgentsController {
  constructor(private readonly agents: AgentStore) {}

  @Get()
  @RequireRole('viewer')
  @ScopedBy('handler')
  @ApiResponse({ status: 200, description: 'The agents that run now', schema: AGENTS_SCHEMA })
  @ApiErrors()
  async list(@CurrentPrincipal() principal: Principal) {
    const agents = await this.agents.live();
    // A key limited to some saga types sees the agents of those types, and only those of their types.
    const visible = (id: string) => allowsType(principal, id.slice(0, id.lastIndexOf('@')));
    return {
      items: agents
        .map((a) => ({ ...a, sagaTypes: a.sagaTypes.filter(visible) }))
        .filter((a) => !principal.sagaTypes || a.sagaTypes.length > 0)
        .map((a) => ({ ...a, startedAt: a.startedAt.toISOString(), seenAt: a.seenAt.toISOString() })),
    };
  }
}
