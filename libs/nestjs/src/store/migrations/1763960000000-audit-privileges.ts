import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * Least privilege for the audit log: no role but its owner may UPDATE, DELETE or TRUNCATE `saga_audit`, whatever
 * a later blanket GRANT to PUBLIC says. The trigger of AuditAndAlerts1763780000000 stays as a second line (it
 * stops the owner too). The engine's own role is set up by `scripts/db-roles.sql`: SELECT and INSERT only.
 */
export class AuditPrivileges1763960000000 implements MigrationInterface {
  name = 'AuditPrivileges1763960000000';

  async up(q: QueryRunner): Promise<void> {
    await q.query(`REVOKE UPDATE, DELETE, TRUNCATE ON saga_audit FROM PUBLIC`);
  }

  async down(): Promise<void> {
    // Nothing to restore: PUBLIC had none of these privileges unless someone granted them by hand.
  }
}
