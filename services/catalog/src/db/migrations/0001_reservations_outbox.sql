CREATE TYPE "catalog"."reservation_status" AS ENUM('RESERVED', 'RELEASED', 'COMMITTED');--> statement-breakpoint
CREATE TABLE "catalog"."outbox" (
	"id" uuid PRIMARY KEY NOT NULL,
	"topic" text NOT NULL,
	"type" text NOT NULL,
	"subject" text NOT NULL,
	"envelope" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"published_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "catalog"."reservations" (
	"order_id" uuid PRIMARY KEY NOT NULL,
	"status" "catalog"."reservation_status" NOT NULL,
	"lines" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE INDEX "outbox_unpublished_idx" ON "catalog"."outbox" USING btree ("created_at") WHERE "catalog"."outbox"."published_at" is null;