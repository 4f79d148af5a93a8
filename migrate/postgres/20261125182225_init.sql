-- +goose Up
-- create "tasks" table
CREATE TABLE "tasks" ("id" uuid NOT NULL, "user_id" character varying NOT NULL, "title" character varying NOT NULL, "description" character varying NULL, "is_completed" boolean NOT NULL DEFAULT false, "created_at" timestamptz NOT NULL, "updated_at" timestamptz NOT NULL, PRIMARY KEY ("id"));
-- create index "idx_tasks_user_id" to table: "tasks"
CREATE INDEX "idx_tasks_user_id" ON "tasks" ("user_id");
-- create index "idx_tasks_user_id_created_at" to table: "tasks"
CREATE INDEX "idx_tasks_user_id_created_at" ON "tasks" ("user_id", "created_at" DESC);

-- +goose Down
-- reverse: create index "idx_tasks_user_id_created_at" to table: "tasks"
DROP INDEX "idx_tasks_user_id_created_at";
-- reverse: create index "idx_tasks_user_id" to table: "tasks"
DROP INDEX "idx_tasks_user_id";
-- reverse: create "tasks" table
DROP TABLE "tasks";
