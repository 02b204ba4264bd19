"""The Pulumi CLI's project-config rule, applied offline the way the CLI applies it.

Source of every expectation here: pulumi/pulumi ``pkg/workspace/config.go``
(``mergeConfig``: a project-namespaced key declared with neither ``default`` nor
``value`` and absent from the stack is collected, all of them reported in one error by
``missingStackConfigurationKeysError`` with ``formatMissingKeys``: one key ``'a'``,
several sorted as ``'a', 'b' and 'c'``; then ``validateStackConfigValue``:
"Stack '%v' with configuration key '%v' must be of type '%v'") and
``sdk/go/common/workspace/project.go`` (``ValidateConfigValue``: a stack file's scalars
reach it as strings, so any scalar is a string; integers must parse; booleans are
exactly "true"/"false"; arrays are checked item by item on their JSON types).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from infra.errors import GyrinxTasksError
from tests.config_corpus import ACCEPTS, CORPUS
from tools import runner, stack_config
from tools.stack_config import StackConfigError

ROOT = Path(__file__).resolve().parent.parent


def project(tmp_path: Path, declarations: str, stack: str = "") -> Path:
    (tmp_path / "Pulumi.yaml").write_text(f"name: gyrinx-tasks\nruntime: python\nconfig:\n{declarations}")
    (tmp_path / "Pulumi.dev.yaml").write_text(f"config:\n{stack}" if stack else "config: {}\n")
    return tmp_path


@pytest.mark.parametrize("stack", stack_config.stack_names())
def test_every_committed_stack_passes_the_clis_rule(stack):
    config = stack_config.merged_config(stack)
    declared = stack_config.declarations()
    assert set(declared) <= set(config.values)


def test_every_optional_key_of_the_project_has_a_default():
    """Only the keys every stack must set are required: the registry, the service URL."""
    declared = stack_config.declarations()
    required = sorted(d.key for key, d in declared.items() if key.startswith("gyrinx-tasks:") and not d.has_default)
    assert required == ["registry", "serviceUrl"]


def test_one_missing_key_is_named_as_the_cli_names_it(tmp_path):
    root = project(tmp_path, "  serviceUrl:\n    type: string\n")
    with pytest.raises(StackConfigError) as caught:
        stack_config.merged_config("dev", project_dir=root)
    assert str(caught.value) == "Stack 'dev' is missing configuration value 'serviceUrl'"


def test_several_missing_keys_are_sorted_and_joined_as_the_cli_joins_them(tmp_path):
    root = project(tmp_path, "  zeta:\n    type: string\n  alpha:\n    type: string\n  mid:\n    type: string\n")
    with pytest.raises(StackConfigError) as caught:
        stack_config.merged_config("dev", project_dir=root)
    assert str(caught.value) == "Stack 'dev' is missing configuration values 'alpha', 'mid' and 'zeta'"


def test_an_empty_default_satisfies_the_rule(tmp_path):
    root = project(tmp_path, '  appServiceAccount:\n    type: string\n    default: ""\n')
    assert stack_config.merged_config("dev", project_dir=root).values["gyrinx-tasks:appServiceAccount"] == ""


def test_a_key_of_another_namespace_is_never_reported_missing(tmp_path):
    root = project(tmp_path, "  gcp:region:\n    value: europe-west2\n")
    assert stack_config.merged_config("dev", project_dir=root).values["gcp:region"] == "europe-west2"


@pytest.mark.parametrize(
    ("declaration", "value", "type_name"),
    [
        ("type: boolean", "maybe", "boolean"),
        ("type: integer", "5.5", "integer"),
        ("type: string", "[a, b]", "string"),
        ("type: array\n    items:\n      type: string", "[1, 2]", "array<string>"),
        ("type: array\n    items:\n      type: string", "not-a-list", "array<string>"),
    ],
)
def test_a_value_of_the_wrong_type_is_refused_in_the_clis_words(tmp_path, declaration, value, type_name):
    root = project(tmp_path, f"  key:\n    {declaration}\n", f"  gyrinx-tasks:key: {value}\n")
    with pytest.raises(StackConfigError) as caught:
        stack_config.merged_config("dev", project_dir=root)
    assert str(caught.value) == f"Stack 'dev' with configuration key 'key' must be of type '{type_name}'"


@pytest.mark.parametrize(
    ("declaration", "value"),
    [
        ("type: string", "5"),  # scalars reach the check as text
        ("type: string", "true"),
        ("type: integer", '"42"'),
        ("type: boolean", "false"),
        ("type: array\n    items:\n      type: string", "[a, b]"),
    ],
)
def test_values_the_cli_accepts_pass(tmp_path, declaration, value):
    root = project(tmp_path, f"  key:\n    {declaration}\n", f"  gyrinx-tasks:key: {value}\n")
    assert "gyrinx-tasks:key" in stack_config.merged_config("dev", project_dir=root).values


def test_an_override_is_checked_like_a_stack_value(tmp_path):
    root = project(tmp_path, "  flag:\n    type: boolean\n    default: false\n")
    with pytest.raises(StackConfigError, match="must be of type 'boolean'"):
        stack_config.merged_config("dev", ["flag=sometimes"], project_dir=root)


def test_a_stack_file_repeating_a_key_is_refused_in_go_yamls_words(tmp_path):
    """go-yaml v3 ``decode.go`` (``d.mapping``, unique keys): "mapping key %#v already
    defined at line %d"."""
    root = project(tmp_path, "", "  gcp:project: a\n  gcp:project: b\n")
    with pytest.raises(StackConfigError) as caught:
        stack_config.merged_config("dev", project_dir=root)
    assert str(caught.value) == (
        'Pulumi.dev.yaml is not valid YAML: line 3: mapping key "gcp:project" already defined at line 2'
    )


def test_a_stack_the_cli_would_refuse_exits_2_with_one_line(capsys):
    from tools.cli import main

    assert main(["plan", "--stack", "dev", "--config", "allowEmptyRegistry=sometimes"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == "error: Stack 'dev' with configuration key 'allowEmptyRegistry' must be of type 'boolean'\n"


def test_the_runner_refuses_before_running_the_program(tmp_path):
    root = project(tmp_path, "  serviceUrl:\n    type: string\n")
    (root / "__main__.py").write_text("raise AssertionError('the program ran')\n")
    with pytest.raises(StackConfigError, match="missing configuration value 'serviceUrl'"):
        runner.run_plan("dev", project_dir=root)


def test_a_broken_stack_file_does_not_break_another_stacks_flags(tmp_path):
    root = project(tmp_path, "", "  gyrinx-tasks:flags:\n    ENABLE_X: true\n")
    (root / "Pulumi.broken.yaml").write_text("config: [unclosed\n")
    assert stack_config.flags_by_stack(project_dir=root) == {"dev": {"ENABLE_X": True}}


def test_flags_by_stack_apply_the_planned_stacks_overrides(tmp_path):
    root = project(tmp_path, "", "  gyrinx-tasks:flags:\n    ENABLE_X: true\n")
    flags = stack_config.flags_by_stack("dev", ['flags={"ENABLE_Y": false}'], root)
    assert flags == {"dev": {"ENABLE_Y": False}}


def test_encrypted_flags_count_as_none_offline(tmp_path):
    root = project(tmp_path, "", "  gyrinx-tasks:flags:\n    secure: v1:abc\n")
    assert stack_config.flags_by_stack(project_dir=root) == {"dev": {}}


def test_flags_that_are_not_an_object_leave_that_stack_out(tmp_path):
    root = project(tmp_path, "", "  gyrinx-tasks:flags: oops\n")
    (root / "Pulumi.other.yaml").write_text("config:\n  gyrinx-tasks:flags:\n    ENABLE_X: true\n")
    assert stack_config.flags_by_stack(project_dir=root) == {"other": {"ENABLE_X": True}}


# --- Stack files read as the CLI reads them: go-yaml v3, YAML 1.2 core schema --------
#
# pulumi/pulumi sdk/go/common/encoding/marshal.go decodes stack files with
# gopkg.in/yaml.v3 (v3.0.1 in sdk/go.mod); go-yaml v3.0.1 resolve.go's resolveMapList
# holds the only boolean and null words, and resolve() reads numbers with Go's strconv.
# A top-level scalar then reaches the program as its text (config/object.go,
# MarshalString), an object as Go's JSON.


@pytest.mark.parametrize("word", ["yes", "no", "on", "off", "y", "n", "Yes", "OFF", "tRUE"])
def test_yaml_1_1_words_are_strings_so_a_boolean_key_refuses_them(tmp_path, word):
    root = project(tmp_path, "  flag:\n    type: boolean\n    default: false\n", f"  gyrinx-tasks:flag: {word}\n")
    with pytest.raises(StackConfigError, match="must be of type 'boolean'"):
        stack_config.merged_config("dev", project_dir=root)


@pytest.mark.parametrize(("word", "text"), [("true", "true"), ("True", "true"), ("TRUE", "true"), ("False", "false")])
def test_yaml_1_2_booleans_reach_the_program_as_true_or_false(tmp_path, word, text):
    root = project(tmp_path, "  flag:\n    type: boolean\n    default: false\n", f"  gyrinx-tasks:flag: {word}\n")
    assert stack_config.merged_config("dev", project_dir=root).values["gyrinx-tasks:flag"] == text


@pytest.mark.parametrize(
    ("written", "text"),
    [
        ("yes", "yes"),
        ("'yes'", "yes"),
        ("0777", "511"),  # Go's ParseInt base 0: a leading 0 is octal
        ("0x1F", "31"),
        ("0o17", "15"),
        ("1_000", "1000"),
        ("08", "8"),  # not octal, so a YAML float, written by Go's JSON as 8
        ("1e3", "1000"),
        ("1.50", "1.5"),
        ("1:30", "1:30"),  # YAML 1.1's base 60 is gone in 1.2
        ("1e400", "1e400"),  # ParseFloat overflows: the text stays a string
        ("~", ""),  # null: the CLI's checkForEmptyConfig reads it as ""
        ("null", ""),
        ("", ""),
    ],
)
def test_a_scalar_reaches_the_program_as_the_clis_text(tmp_path, written, text):
    root = project(tmp_path, "", f"  gyrinx-tasks:key: {written}\n")
    assert stack_config.merged_config("dev", project_dir=root).values["gyrinx-tasks:key"] == text


def test_a_key_with_no_value_is_noted_as_the_cli_warns(tmp_path):
    """loaders.go, checkForEmptyConfig: "No value for configuration key ... currently
    treated as an empty string"."""
    root = project(tmp_path, "", "  gyrinx-tasks:key:\n")
    config = stack_config.merged_config("dev", project_dir=root)
    assert [note for note in config.notes if "gyrinx-tasks:key has no value" in note]


def test_an_object_reaches_the_program_as_gos_json(tmp_path):
    """Go's json.Marshal: keys sorted, no spaces, <>& escaped (encoding/json encodeState.string)."""
    root = project(tmp_path, "", "  gyrinx-tasks:labels:\n    b: x<y\n    a: [1, 2.50, on]\n")
    assert stack_config.merged_config("dev", project_dir=root).values["gyrinx-tasks:labels"] == (
        '{"a":[1,2.5,"on"],"b":"x\\u003cy"}'
    )


@pytest.mark.parametrize(
    ("written", "why"),
    [
        ("2024-01-01", "YAML timestamp"),
        (".inf", "float JSON cannot hold"),
        ("!!int 5", "explicit tag"),
    ],
)
def test_a_value_the_cli_would_mangle_or_refuse_is_refused_with_what_to_write(tmp_path, written, why):
    root = project(tmp_path, "", f"  gyrinx-tasks:key: {written}\n")
    with pytest.raises(StackConfigError, match=why):
        stack_config.merged_config("dev", project_dir=root)


def test_a_key_that_is_not_a_string_is_refused_as_the_cli_refuses_it(tmp_path):
    """project.go, SimplifyMarshalledValue: "expected only string keys"."""
    root = project(tmp_path, "", "  5: x\n")
    with pytest.raises(StackConfigError, match="expected only string keys"):
        stack_config.merged_config("dev", project_dir=root)


# --- --config KEY=VALUE as `pulumi preview -c` reads it --------------------------------
#
# pkg/cmd/pulumi/project/newcmd/config.go, parseConfig: strings.SplitN(c, "=", 2), the
# value config.NewValue(kvp[1]) (a plain string, never JSON), config.NewValue("") when
# there is no "=". pkg/workspace/config.go, validateStackConfigValue, then type-checks
# that string as it is (only an object value is decoded first).


def test_an_override_value_is_a_plain_string(tmp_path):
    root = project(tmp_path, "")
    config = stack_config.merged_config("dev", ['labels={"team": "x"}', "key=a=b"], project_dir=root)
    assert config.values["gyrinx-tasks:labels"] == '{"team": "x"}'
    assert config.values["gyrinx-tasks:key"] == "a=b"


def test_an_override_with_no_value_is_the_empty_string(tmp_path):
    root = project(tmp_path, "", "  gyrinx-tasks:registry: from.stack:file\n")
    assert stack_config.merged_config("dev", ["registry"], project_dir=root).values["gyrinx-tasks:registry"] == ""


def test_an_override_of_an_array_key_is_a_string_so_the_cli_refuses_it(tmp_path):
    root = project(tmp_path, "  channels:\n    type: array\n    items:\n      type: string\n    default: []\n")
    with pytest.raises(StackConfigError, match="must be of type 'array<string>'"):
        stack_config.merged_config("dev", ['channels=["a"]'], project_dir=root)


@pytest.mark.parametrize("text", ["+5", "-5", "9223372036854775807"])
def test_an_integer_override_passes_as_gos_atoi_reads_it(tmp_path, text):
    root = project(tmp_path, "  size:\n    type: integer\n    default: 1\n")
    assert stack_config.merged_config("dev", [f"size={text}"], project_dir=root).values["gyrinx-tasks:size"] == text


@pytest.mark.parametrize("text", ["5.0", " 5", "1_0", "٥", "9223372036854775808", ""])
def test_an_integer_override_gos_atoi_refuses_is_refused(tmp_path, text):
    root = project(tmp_path, "  size:\n    type: integer\n    default: 1\n")
    with pytest.raises(StackConfigError, match="must be of type 'integer'"):
        stack_config.merged_config("dev", [f"size={text}"], project_dir=root)


# --- Secrets set with --path -----------------------------------------------------------


def test_a_secret_nested_by_path_makes_the_whole_key_secret(tmp_path):
    """``pulumi config set --secret --path labels.team x`` writes ``labels: {team:
    {secure: ...}}``; the key is secret as a whole (config/object.go, ``object.Secure``
    is true when any member is; ``MarshalString`` reports it), and the rest stays."""
    root = project(tmp_path, "", "  gyrinx-tasks:labels:\n    team:\n      secure: v1:abc\n    tier: web\n")
    config = stack_config.merged_config("dev", project_dir=root)
    assert config.secret_keys == ("gyrinx-tasks:labels",)
    assert json.loads(config.values["gyrinx-tasks:labels"])["tier"] == "web"
    assert "v1:abc" not in config.values["gyrinx-tasks:labels"]


def test_a_nested_secret_plans_with_the_key_masked(tmp_path):
    routes_dir = tmp_path
    written = {
        **stack_config.stack_config("dev"),
        "gyrinx-tasks:labels": {"team": {"secure": "v1:abc"}},
    }
    (routes_dir / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    (routes_dir / "Pulumi.dev.yaml").write_text(json.dumps({"config": written}))
    config = stack_config.merged_config("dev", project_dir=routes_dir)
    plan = runner.run_plan("dev", config=config)
    topics = [r for r in plan.registrations if r.type == "gcp:pubsub/topic:Topic"]
    assert topics
    assert {topic.inputs["labels"] for topic in topics} == {stack_config.SECRET_MASK}


def test_a_map_with_secure_that_is_not_text_is_an_ordinary_object(tmp_path):
    """object.go, isSecureValue: only a map of one key, ``secure``, with a string value."""
    root = project(tmp_path, "", "  gyrinx-tasks:labels:\n    secure: 5\n")
    config = stack_config.merged_config("dev", project_dir=root)
    assert config.secret_keys == ()
    assert config.values["gyrinx-tasks:labels"] == '{"secure":5}'


# --- Pulumi.yaml as the CLI validates it (sdk/go/common/workspace/project.go, Validate) ---


def test_a_declaration_with_both_value_and_default_is_refused_in_the_clis_words(tmp_path):
    root = project(tmp_path, "  key:\n    type: string\n    default: a\n    value: b\n")
    with pytest.raises(StackConfigError) as caught:
        stack_config.merged_config("dev", project_dir=root)
    assert str(caught.value) == "Pulumi.yaml: project config 'key' cannot have both a 'default' and 'value' attribute"


def test_a_default_of_the_wrong_type_is_refused_in_the_clis_words(tmp_path):
    root = project(tmp_path, "  key:\n    type: integer\n    default: many\n")
    with pytest.raises(StackConfigError, match="default value specified for configuration key 'key' is not of"):
        stack_config.merged_config("dev", project_dir=root)


def test_an_array_declaration_without_items_is_refused(tmp_path):
    root = project(tmp_path, "  key:\n    type: array\n    default: []\n")
    with pytest.raises(StackConfigError, match="does not specify the underlying type"):
        stack_config.merged_config("dev", project_dir=root)


def test_a_repeated_declaration_is_refused(tmp_path):
    root = project(tmp_path, "  key:\n    type: string\n  key:\n    type: string\n")
    with pytest.raises(StackConfigError, match='mapping key "key" already defined'):
        stack_config.merged_config("dev", project_dir=root)


def test_the_projects_own_declarations_pass_the_clis_validation():
    assert stack_config.declarations()


# --- What a stack file may hold (ProjectStack in project.go) ---------------------------


def test_a_kms_secrets_provider_and_its_key_are_accepted(tmp_path):
    root = project(tmp_path, "", "  gcp:project: p\n")
    stack = root / "Pulumi.dev.yaml"
    stack.write_text(
        "secretsprovider: gcpkms://projects/p/locations/global/keyRings/r/cryptoKeys/dev\n"
        "encryptedkey: CiQAb3J5cHRlZA==\n" + stack.read_text()
    )
    assert stack_config.merged_config("dev", project_dir=root).values["gcp:project"] == "p"


def test_a_passphrase_salt_is_accepted(tmp_path):
    root = project(tmp_path, "", "  gcp:project: p\n")
    stack = root / "Pulumi.dev.yaml"
    stack.write_text("encryptionsalt: v1:c2FsdA==:v1:abc\n" + stack.read_text())
    assert stack_config.stack_config("dev", root) == {"gcp:project": "p"}


def test_an_esc_environment_import_is_refused(tmp_path):
    """The CLI merges an ESC environment's pulumiConfig into the stack's config
    (pkg/workspace/config.go, mergeConfig with stackEnv): nothing offline sees it."""
    root = project(tmp_path, "", "  gcp:project: p\n")
    (root / "Pulumi.dev.yaml").write_text("environment:\n  - gyrinx/prod-overrides\nconfig:\n  gcp:project: p\n")
    with pytest.raises(StackConfigError, match=r"^Pulumi\.dev\.yaml: environment: imports Pulumi ESC environments"):
        stack_config.merged_config("dev", project_dir=root)


def test_an_unknown_top_level_key_is_refused_with_the_nearest(tmp_path):
    root = project(tmp_path, "")
    (root / "Pulumi.dev.yaml").write_text("confg:\n  gcp:project: p\n")
    with pytest.raises(StackConfigError, match=r"confg: is not a stack file key .*did you mean config\?"):
        stack_config.merged_config("dev", project_dir=root)


def test_the_ns_config_k_spelling_is_refused_naming_the_key_it_means(tmp_path):
    """config/key.go, ParseKey: ``<namespace>:config:<name>`` is read as ``ns:name``."""
    root = project(tmp_path, "", "  gcp:config:project: p\n")
    with pytest.raises(
        StackConfigError, match=r"'gcp:config:project' is the old ns:config:k spelling.*write gcp:project"
    ):
        stack_config.merged_config("dev", project_dir=root)


def test_the_ns_config_k_spelling_is_refused_on_the_command_line(tmp_path):
    root = project(tmp_path, "")
    with pytest.raises(StackConfigError, match=r"--config 'gcp:config:project=p'.*ns:config:k"):
        stack_config.merged_config("dev", ["gcp:config:project=p"], project_dir=root)


def test_a_key_with_more_colons_is_refused_in_the_clis_words(tmp_path):
    root = project(tmp_path, "", "  a:b:c:d: p\n")
    with pytest.raises(StackConfigError, match="could not parse 'a:b:c:d' as a configuration key"):
        stack_config.merged_config("dev", project_dir=root)


def test_one_key_spelt_with_and_without_the_project_namespace_is_refused(tmp_path):
    """loaders.go, stackConfigNamespacedWithProject: both spellings land in one Go map,
    and which survives depends on map order."""
    root = project(tmp_path, "", "  registry: a:b\n  gyrinx-tasks:registry: c:d\n")
    with pytest.raises(StackConfigError, match="sets gyrinx-tasks:registry twice"):
        stack_config.merged_config("dev", project_dir=root)


# --- Stack names (sdk/go/common/tokens/stack_name.go, ParseStackName) -----------------


@pytest.mark.parametrize(
    ("stack", "why"),
    [
        ("", "may not be empty"),
        ("a" * 101, "cannot exceed 100 characters"),
        ("a" * 5000, "cannot exceed 100 characters"),
        ("org/project/dev", "invalid character '/' at position 3"),
        ("dev prod", "invalid character ' ' at position 3"),
        ("é", "invalid character 'é' at position 0"),
    ],
)
def test_a_stack_name_the_cli_refuses_is_refused(stack, why):
    with pytest.raises(StackConfigError, match=why):
        stack_config.merged_config(stack)


@pytest.mark.parametrize("stack", ["dev", "a" * 100, "Dev_1.2-x"])
def test_a_stack_name_the_cli_takes_is_taken(stack):
    stack_config.check_stack_name(stack)


# --- The config corpus (tests/config_corpus.py), offline -------------------------------


@pytest.mark.parametrize("case", CORPUS, ids=lambda case: case.name)
def test_the_config_corpus_gets_its_verdict_offline(tmp_path, case):
    root = case.files(tmp_path)
    try:
        config = stack_config.merged_config(case.stack, case.overrides, project_dir=root)
        runner.run_plan(case.stack, config=config)
    except GyrinxTasksError as exc:
        assert case.offline is not None, str(exc)
        assert case.offline in str(exc)
    else:
        assert case.offline is None


@pytest.mark.parametrize("case", CORPUS, ids=lambda case: case.name)
def test_where_the_offline_verdict_differs_from_the_clis_the_corpus_says_why(case):
    differs = (case.offline is None) != (case.cli == ACCEPTS)
    assert bool(case.stricter) == differs
