"""Resource ids: the exact contract with the running app."""

from infra import naming


def test_task_ids_follow_the_apps_contract():
    names = naming.task_names("prod", "n23.core.tasks.refresh_list_facts")
    assert names.topic == "prod--gyrinx.tasks--n23.core.tasks.refresh_list_facts"
    assert names.subscription == "prod--gyrinx.tasks--n23.core.tasks.refresh_list_facts-sub"
    assert names.job == "prod--gyrinx-scheduler--n23-core-tasks-refresh_list_facts"


def test_dead_letter_ids_extend_the_topic_id():
    names = naming.task_names("dev", "a.b")
    assert names.dead_letter_topic == "dev--gyrinx.tasks--a.b-dlq"
    assert names.dead_letter_subscription == "dev--gyrinx.tasks--a.b-dlq-sub"


def test_scheduler_description_matches_the_app():
    assert naming.scheduler_description("t", "0 3 * * *", "UTC") == "Scheduled task: t (0 3 * * * UTC)"


def test_pubsub_id_rules():
    assert naming.pubsub_id_problem("dev--gyrinx.tasks--a.b~c+d%e_f") is None
    assert "3-255" in naming.pubsub_id_problem("ab")
    assert "3-255" in naming.pubsub_id_problem("a" * 256)
    assert "goog" in naming.pubsub_id_problem("google-topic")
    assert "letter" in naming.pubsub_id_problem("1abc")
    assert "letter" in naming.pubsub_id_problem("abc def")


def test_job_id_rules():
    assert naming.job_id_problem("dev--gyrinx-scheduler--a-b_c") is None
    assert "500" in naming.job_id_problem("a" * 501)
    assert naming.job_id_problem("a.b") is not None


def test_a_job_id_turns_dots_into_hyphens_so_paths_with_hyphens_can_share_one():
    """Why validation refuses hyphens in paths and checks job ids for collisions."""
    assert naming.scheduler_job_id("dev", "app.a-b.x") == naming.scheduler_job_id("dev", "app.a.b-x")


def test_a_paths_dead_letter_topic_id_is_the_topic_id_of_the_path_plus_dlq():
    """Why a path may not end in -dlq: the two tasks would share a topic."""
    assert naming.task_names("dev", "app.x").dead_letter_topic == naming.task_names("dev", "app.x-dlq").topic
