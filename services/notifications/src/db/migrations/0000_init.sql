CREATE SCHEMA IF NOT EXISTS "notifications";
--> statement-breakpoint
CREATE TYPE "notifications"."delivery_channel" AS ENUM('email', 'sms', 'none');--> statement-breakpoint
CREATE TYPE "notifications"."delivery_status" AS ENUM('PENDING', 'SENT', 'FAILED', 'SKIPPED');--> statement-breakpoint
CREATE TABLE "notifications"."deliveries" (
	"event_id" uuid NOT NULL,
	"channel" "notifications"."delivery_channel" NOT NULL,
	"order_id" uuid NOT NULL,
	"type" text NOT NULL,
	"recipient" text,
	"status" "notifications"."delivery_status" NOT NULL,
	"provider_message_id" text,
	"attempts" integer DEFAULT 0 NOT NULL,
	"last_error" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"sent_at" timestamp with time zone,
	CONSTRAINT "deliveries_pkey" PRIMARY KEY("event_id","channel")
);
--> statement-breakpoint
CREATE INDEX "deliveries_order_idx" ON "notifications"."deliveries" USING btree ("order_id","created_at");