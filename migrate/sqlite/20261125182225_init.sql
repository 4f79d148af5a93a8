-- +goose Up
-- create "tasks" table
CREATE TABLE `tasks` (`id` uuid NOT NULL, `user_id` text NOT NULL, `title` text NOT NULL, `description` text NULL, `is_completed` bool NOT NULL DEFAULT (false), `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, PRIMARY KEY (`id`));
-- create index "idx_tasks_user_id" to table: "tasks"
CREATE INDEX `idx_tasks_user_id` ON `tasks` (`user_id`);
-- create index "idx_tasks_user_id_created_at" to table: "tasks"
CREATE INDEX `idx_tasks_user_id_created_at` ON `tasks` (`user_id`, `created_at` DESC);

-- +goose Down
-- reverse: create index "idx_tasks_user_id_created_at" to table: "tasks"
DROP INDEX `idx_tasks_user_id_created_at`;
-- reverse: create index "idx_tasks_user_id" to table: "tasks"
DROP INDEX `idx_tasks_user_id`;
-- reverse: create "tasks" table
DROP TABLE `tasks`;
