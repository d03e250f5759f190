DROP INDEX "orders"."outbox_unpublished_idx";--> statement-breakpoint
ALTER TABLE "orders"."outbox" ADD COLUMN "attempts" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "orders"."outbox" ADD COLUMN "last_error" text;--> statement-breakpoint
ALTER TABLE "orders"."outbox" ADD COLUMN "next_attempt_at" timestamp with time zone DEFAULT now() NOT NULL;--> statement-breakpoint
ALTER TABLE "orders"."outbox" ADD COLUMN "dead_at" timestamp with time zone;--> statement-breakpoint
CREATE INDEX "outbox_published_idx" ON "orders"."outbox" USING btree ("published_at") WHERE "orders"."outbox"."published_at" is not null;--> statement-breakpoint
CREATE INDEX "outbox_dead_idx" ON "orders"."outbox" USING btree ("dead_at") WHERE "orders"."outbox"."dead_at" is not null;--> statement-breakpoint
CREATE INDEX "processed_events_processed_at_idx" ON "orders"."processed_events" USING btree ("processed_at");--> statement-breakpoint
CREATE INDEX "outbox_unpublished_idx" ON "orders"."outbox" USING btree ("created_at") WHERE "orders"."outbox"."published_at" is null and "orders"."outbox"."dead_at" is null;