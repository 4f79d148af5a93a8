-- +goose Up
-- disable the enforcement of foreign-keys constraints
PRAGMA foreign_keys = off;
-- create "new_tasks" table
CREATE TABLE `new_tasks` (`id` uuid NOT NULL, `user_id` text NOT NULL, `title` text NOT NULL, `description` text NULL, `is_completed` bool NOT NULL DEFAULT (false), `created_at` datetime NOT NULL, `updated_at` datetime NOT NULL, PRIMARY KEY (`id`));
-- copy rows from old table "tasks" to new temporary table "new_tasks"
INSERT INTO `new_tasks` (`id`, `user_id`, `title`, `description`, `is_completed`, `created_at`, `updated_at`) SELECT `id`, `user_id`, `title`, `description`, `is_completed`, `created_at`, `updated_at` FROM `tasks`;
-- drop "tasks" table after copying rows
DROP TABLE `tasks`;
-- rename temporary table "new_tasks" to "tasks"
ALTER TABLE `new_tasks` RENAME TO `tasks`;
-- create index "idx_tasks_user_id" to table: "tasks"
CREATE INDEX `idx_tasks_user_id` ON `tasks` (`user_id`);
-- create index "idx_tasks_user_id_created_at" to table: "tasks"
CREATE INDEX `idx_tasks_user_id_created_at` ON `tasks` (`user_id`, `created_at` DESC, `id` DESC);
-- enable back the enforcement of foreign-keys constraints
PRAGMA foreign_keys = on;

-- +goose Down
-- reverse: create index "idx_tasks_user_id_created_at" to table: "tasks"
DROP INDEX `idx_tasks_user_id_created_at`;
-- reverse: create index "idx_tasks_user_id" to table: "tasks"
DROP INDEX `idx_tasks_user_id`;
-- reverse: create "new_tasks" table
DROP TABLE `new_tasks`;
