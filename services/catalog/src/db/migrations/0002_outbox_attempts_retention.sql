DROP INDEX "catalog"."outbox_unpublished_idx";--> statement-breakpoint
ALTER TABLE "catalog"."outbox" ADD COLUMN "attempts" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "catalog"."outbox" ADD COLUMN "last_error" text;--> statement-breakpoint
ALTER TABLE "catalog"."outbox" ADD COLUMN "next_attempt_at" timestamp with time zone DEFAULT now() NOT NULL;--> statement-breakpoint
ALTER TABLE "catalog"."outbox" ADD COLUMN "dead_at" timestamp with time zone;--> statement-breakpoint
CREATE INDEX "outbox_published_idx" ON "catalog"."outbox" USING btree ("published_at") WHERE "catalog"."outbox"."published_at" is not null;--> statement-breakpoint
CREATE INDEX "outbox_dead_idx" ON "catalog"."outbox" USING btree ("dead_at") WHERE "catalog"."outbox"."dead_at" is not null;--> statement-breakpoint
CREATE INDEX "outbox_unpublished_idx" ON "catalog"."outbox" USING btree ("created_at") WHERE "catalog"."outbox"."published_at" is null and "catalog"."outbox"."dead_at" is null;