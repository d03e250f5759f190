CREATE SCHEMA IF NOT EXISTS "fulfillment";
--> statement-breakpoint
CREATE TYPE "fulfillment"."saga_status" AS ENUM('RUNNING', 'COMPENSATING', 'COMPLETED', 'FAILED', 'CANCELLED');--> statement-breakpoint
CREATE TYPE "fulfillment"."saga_step" AS ENUM('fraud', 'reserve-stock', 'capture-payment', 'create-shipment', 'commit-stock', 'done');--> statement-breakpoint
CREATE TABLE "fulfillment"."outbox" (
	"id" uuid PRIMARY KEY NOT NULL,
	"topic" text NOT NULL,
	"type" text NOT NULL,
	"subject" text NOT NULL,
	"envelope" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"published_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "fulfillment"."processed_events" (
	"event_id" uuid PRIMARY KEY NOT NULL,
	"type" text NOT NULL,
	"processed_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "fulfillment"."sagas" (
	"order_id" uuid PRIMARY KEY NOT NULL,
	"customer_id" text NOT NULL,
	"status" "fulfillment"."saga_status" NOT NULL,
	"step" "fulfillment"."saga_step" NOT NULL,
	"attempts" integer DEFAULT 0 NOT NULL,
	"last_error" text,
	"order" jsonb,
	"payment_token" text,
	"reservation_id" text,
	"payment_id" text,
	"shipment_id" text,
	"carrier" text,
	"tracking_number" text,
	"payment_voided" boolean DEFAULT false NOT NULL,
	"payment_refunded" boolean DEFAULT false NOT NULL,
	"stock_released" boolean DEFAULT false NOT NULL,
	"failed_step" text,
	"failure_reason" text,
	"correlation_id" text,
	"traceparent" text,
	"lease_owner" text,
	"lease_until" timestamp with time zone,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"ended_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "fulfillment"."simulated_payments" (
	"idempotency_key" text PRIMARY KEY NOT NULL,
	"order_id" uuid NOT NULL,
	"operation" text NOT NULL,
	"token" text,
	"amount_cents" integer,
	"currency" text,
	"status" text NOT NULL,
	"payment_id" text,
	"attempts" integer DEFAULT 0 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "fulfillment"."simulated_shipments" (
	"idempotency_key" text PRIMARY KEY NOT NULL,
	"order_id" uuid NOT NULL,
	"status" text NOT NULL,
	"shipment_id" text,
	"tracking_number" text,
	"attempts" integer DEFAULT 0 NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE INDEX "outbox_unpublished_idx" ON "fulfillment"."outbox" USING btree ("created_at") WHERE "fulfillment"."outbox"."published_at" is null;--> statement-breakpoint
CREATE INDEX "sagas_status_updated_idx" ON "fulfillment"."sagas" USING btree ("status","updated_at");--> statement-breakpoint
CREATE INDEX "simulated_payments_order_idx" ON "fulfillment"."simulated_payments" USING btree ("order_id");