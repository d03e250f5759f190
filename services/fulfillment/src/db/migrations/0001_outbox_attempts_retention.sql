DROP INDEX "fulfillment"."outbox_unpublished_idx";--> statement-breakpoint
ALTER TABLE "fulfillment"."outbox" ADD COLUMN "attempts" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
ALTER TABLE "fulfillment"."outbox" ADD COLUMN "last_error" text;--> statement-breakpoint
ALTER TABLE "fulfillment"."outbox" ADD COLUMN "next_attempt_at" timestamp with time zone DEFAULT now() NOT NULL;--> statement-breakpoint
ALTER TABLE "fulfillment"."outbox" ADD COLUMN "dead_at" timestamp with time zone;--> statement-breakpoint
CREATE INDEX "outbox_published_idx" ON "fulfillment"."outbox" USING btree ("published_at") WHERE "fulfillment"."outbox"."published_at" is not null;--> statement-breakpoint
CREATE INDEX "outbox_dead_idx" ON "fulfillment"."outbox" USING btree ("dead_at") WHERE "fulfillment"."outbox"."dead_at" is not null;--> statement-breakpoint
CREATE INDEX "processed_events_processed_at_idx" ON "fulfillment"."processed_events" USING btree ("processed_at");--> statement-breakpoint
CREATE INDEX "outbox_unpublished_idx" ON "fulfillment"."outbox" USING btree ("created_at") WHERE "fulfillment"."outbox"."published_at" is null and "fulfillment"."outbox"."dead_at" is null;