CREATE SCHEMA IF NOT EXISTS "catalog";
--> statement-breakpoint
CREATE TYPE "catalog"."product_status" AS ENUM('active', 'archived');--> statement-breakpoint
CREATE TABLE "catalog"."categories" (
	"slug" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "catalog"."products" (
	"id" uuid PRIMARY KEY NOT NULL,
	"sku" text NOT NULL,
	"slug" text NOT NULL,
	"name" text NOT NULL,
	"description" text DEFAULT '' NOT NULL,
	"price_cents" integer NOT NULL,
	"currency" text DEFAULT 'USD' NOT NULL,
	"category" text NOT NULL,
	"image_url" text,
	"stock" integer DEFAULT 0 NOT NULL,
	"status" "catalog"."product_status" DEFAULT 'active' NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"search" "tsvector" GENERATED ALWAYS AS (to_tsvector('english', coalesce(name, '') || ' ' || coalesce(description, ''))) STORED,
	CONSTRAINT "products_stock_not_negative" CHECK ("catalog"."products"."stock" >= 0),
	CONSTRAINT "products_price_not_negative" CHECK ("catalog"."products"."price_cents" >= 0)
);
--> statement-breakpoint
ALTER TABLE "catalog"."products" ADD CONSTRAINT "products_category_categories_slug_fk" FOREIGN KEY ("category") REFERENCES "catalog"."categories"("slug") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
CREATE UNIQUE INDEX "products_sku_key" ON "catalog"."products" USING btree ("sku");--> statement-breakpoint
CREATE UNIQUE INDEX "products_slug_key" ON "catalog"."products" USING btree ("slug");--> statement-breakpoint
CREATE INDEX "products_listing_idx" ON "catalog"."products" USING btree ("status","name","id");--> statement-breakpoint
CREATE INDEX "products_category_idx" ON "catalog"."products" USING btree ("category","status","name","id");--> statement-breakpoint
CREATE INDEX "products_search_idx" ON "catalog"."products" USING gin ("search");