"""engine:=triton settings, start-up errors without a server, and the model repository writer.

Everything here runs without a Triton server: the "unreachable" cases use a real gRPC client
against a loopback port nobody listens on. Tests against a real server: test_triton_server.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bodypose3d_ros.core.engines.base import ModelLoadError
from bodypose3d_ros.core.engines.bodypose3dnet_io import INPUT_SPECS, OUTPUT_SPECS
from bodypose3d_ros.core.engines.factory import create_engine
from bodypose3d_ros.core.engines.triton_address import (
    TritonAddress,
    is_local_host,
    parse_triton_url,
)
from bodypose3d_ros.core.engines.triton_engine import TritonEngine, TritonSettings
from bodypose3d_ros.core.models.factory import create_model
from bodypose3d_ros.infer import main as infer_main
from bodypose3d_ros.ros.parameters import ParameterError, defaults, parse_parameters
from bodypose3d_ros.testing.contract_model import write_contract_model, write_signature_model
from bodypose3d_ros.testing.triton_server import free_port
from bodypose3d_ros.triton_repository import main as repository_main
from bodypose3d_ros.triton_repository import write_repository


@pytest.fixture(scope="module")
def contract_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_contract_model(tmp_path_factory.mktemp("models") / "contract.onnx")


# ----------------------------------------------------------------- the URL
@pytest.mark.parametrize(
    ("url", "host", "port"),
    [
        ("grpc://gpu-box:8001", "gpu-box", 8001),
        ("gpu-box:9001", "gpu-box", 9001),
        ("gpu-box", "gpu-box", 8001),
        ("GRPC://10.0.0.5:8001/", "10.0.0.5", 8001),
        ("grpc://[::1]:8101", "::1", 8101),
        ("[fe80::2]", "fe80::2", 8001),
        (" 127.0.0.1:18001 ", "127.0.0.1", 18001),
    ],
)
def test_urls_with_and_without_scheme_and_port(url: str, host: str, port: int) -> None:
    assert parse_triton_url(url) == TritonAddress(host, port)


def test_address_renders_a_grpc_target() -> None:
    assert TritonAddress("::1", 8001).target == "[::1]:8001"
    assert TritonAddress("gpu-box", 8001).url == "grpc://gpu-box:8001"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("", "triton_url is empty"),
        ("http://gpu-box:8000", "uses http://, but the engine speaks gRPC"),
        ("grpc://gpu-box:80x1", "invalid port '80x1'"),
        ("grpc://gpu-box:70000", "invalid port '70000'"),
        ("grpc://gpu-box/v2/models", "is not a server address"),
        ("grpc://:8001", "has no host"),
    ],
)
def test_bad_urls_say_how_to_write_one(url: str, expected: str) -> None:
    with pytest.raises(ValueError, match="grpc://HOST:PORT") as raised:
        parse_triton_url(url)
    assert expected in str(raised.value)


@pytest.mark.parametrize(
    ("host", "local"),
    [
        ("localhost", True),
        ("127.0.0.1", True),
        ("::1", True),
        ("192.0.2.7", False),  # TEST-NET-1: never this machine
        ("no-such-host.invalid", False),
    ],
)
def test_shared_memory_is_only_tried_for_this_machine(host: str, local: bool) -> None:
    assert is_local_host(host) is local


# ----------------------------------------------------------------- settings
def test_node_parameters_for_triton_need_a_url_but_no_model_path() -> None:
    values = defaults()
    values.update(backend="bodypose3dnet", engine="triton")
    with pytest.raises(ParameterError, match="triton_url is empty"):
        parse_parameters(values)
    values.update(triton_url="grpc://gpu-box:8001", triton_model_version="2")
    parsed = parse_parameters(values)
    assert parsed.model_path == ""
    assert parsed.triton() == TritonSettings("grpc://gpu-box:8001", "bodypose3dnet", "2", 2.0)
    values.update(engine="onnxruntime")
    assert parse_parameters({**values, "model_path": "/m.onnx"}).triton() is None


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("triton_model_version", "latest", "must be a positive integer, or empty"),
        ("triton_model", " ", "triton_model is empty"),
        ("triton_url", "http://gpu-box:8000", "speaks gRPC"),
        ("triton_timeout_s", 0.0, r"triton_timeout_s=0.0 must be within \[0.01, 60\]"),
    ],
)
def test_bad_triton_parameters_are_named(name: str, value: object, expected: str) -> None:
    values = defaults()
    values.update(backend="bodypose3dnet", engine="triton", triton_url="gpu-box:8001")
    values[name] = value
    with pytest.raises(ParameterError, match=expected):
        parse_parameters(values)


def test_unreachable_server_fails_at_start_naming_the_url_and_the_fix() -> None:
    url = f"grpc://127.0.0.1:{free_port()}"  # nothing listens there
    with pytest.raises(ModelLoadError) as raised:
        TritonEngine(TritonSettings(url, timeout_s=2.0))
    message = str(raised.value)
    assert f"cannot reach the Triton server at {url}" in message
    assert "set triton_url to where it runs" in message
    assert "bodypose3d_ros.triton_repository" in message


def test_a_server_that_does_not_answer_in_time_is_not_called_unreachable() -> None:
    """Something listens but never answers (a port that accepts and stays silent): the timeout
    is named, not "start the server" (1e-6 s once read as "the server is not running")."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # the kernel completes connections; nobody ever speaks
        url = f"grpc://127.0.0.1:{silent.getsockname()[1]}"
        with pytest.raises(ModelLoadError) as raised:
            TritonEngine(TritonSettings(url, timeout_s=0.5))
    message = str(raised.value)
    assert f"the Triton server at {url} did not answer within triton_timeout_s=0.5 s" in message
    assert "DEADLINE_EXCEEDED" in message
    assert "raise triton_timeout_s" in message


def test_factories_route_triton_settings_and_do_not_need_a_model_file() -> None:
    with pytest.raises(ValueError, match="needs triton_url"):
        create_engine("triton", "")
    url = f"127.0.0.1:{free_port()}"
    with pytest.raises(ModelLoadError, match="cannot reach the Triton server"):
        create_model("bodypose3dnet", None, engine="triton", triton=TritonSettings(url), log=print)


def test_cli_checks_triton_flags_and_reports_an_unreachable_server(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], person_image_path: Path
) -> None:
    with pytest.raises(SystemExit):
        infer_main(["--engine", "triton", "--backend", "bodypose3dnet", "--out", str(tmp_path),
                    str(person_image_path)])  # fmt: skip
    assert "--engine triton needs --triton-url" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        infer_main(["--engine", "triton", "--triton-url", "gpu-box", "--out", str(tmp_path),
                    str(person_image_path)])  # fmt: skip
    assert "add --backend bodypose3dnet" in capsys.readouterr().err
    url = f"grpc://127.0.0.1:{free_port()}"
    status = infer_main(["--backend", "bodypose3dnet", "--engine", "triton", "--triton-url", url,
                         "--triton-model", "bp3d", "--out", str(tmp_path),
                         str(person_image_path)])  # fmt: skip
    assert status == 1
    assert f"cannot reach the Triton server at {url}" in capsys.readouterr().err


# ----------------------------------------------------------------- model repository
def _parse_config(path: Path) -> object:
    """config.pbtxt read back with Triton's own ModelConfig schema (shipped in tritonclient)."""
    from google.protobuf import text_format
    from tritonclient.grpc import model_config_pb2

    return text_format.Parse(path.read_text(), model_config_pb2.ModelConfig())


def test_repository_config_parses_back_to_the_contract(tmp_path: Path, contract_path: Path) -> None:
    from tritonclient.grpc import model_config_pb2

    folder = write_repository(contract_path, tmp_path / "repo", max_batch=6)
    assert folder == tmp_path / "repo" / "bodypose3dnet"
    assert (folder / "1" / "model.onnx").read_bytes() == contract_path.read_bytes()
    config = _parse_config(folder / "config.pbtxt")
    assert isinstance(config, model_config_pb2.ModelConfig)
    assert config.name == "bodypose3dnet"
    assert config.platform == "onnxruntime_onnx"
    assert config.max_batch_size == 6
    assert config.HasField("dynamic_batching")
    fp32 = model_config_pb2.DataType.Value("TYPE_FP32")
    for found, specs in ((config.input, INPUT_SPECS), (config.output, OUTPUT_SPECS)):
        assert [t.name for t in found] == [s.name for s in specs]
        assert [list(t.dims) for t in found] == [list(s.shape[1:]) for s in specs]
        assert {t.data_type for t in found} == {fp32}
    assert not config.optimization.execution_accelerators.gpu_execution_accelerator


def test_repository_for_tensorrt_asks_for_the_tensorrt_accelerator(
    tmp_path: Path, contract_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = repository_main(["--onnx", str(contract_path), "--out", str(tmp_path / "repo"),
                              "--platform", "tensorrt", "--name", "bp3d"])  # fmt: skip
    assert status == 0
    printed = capsys.readouterr().out
    assert "nvcr.io/nvidia/tritonserver" in printed
    config = _parse_config(tmp_path / "repo" / "bp3d" / "config.pbtxt")
    accelerators = config.optimization.execution_accelerators.gpu_execution_accelerator  # type: ignore[attr-defined]
    assert [a.name for a in accelerators] == ["tensorrt"]
    assert dict(accelerators[0].parameters)["precision_mode"] == "FP16"
    assert config.max_batch_size == 8  # type: ignore[attr-defined]


def test_fixed_batch_file_is_served_without_batching(tmp_path: Path) -> None:
    fixed = write_contract_model(tmp_path / "fixed.onnx", batch=4)
    config = _parse_config(write_repository(fixed, tmp_path / "repo") / "config.pbtxt")
    assert config.max_batch_size == 0  # type: ignore[attr-defined]
    assert list(config.input[0].dims) == [4, 3, 256, 192]  # type: ignore[attr-defined]
    assert not config.HasField("dynamic_batching")  # type: ignore[attr-defined]


def test_repository_refuses_a_wrong_model_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong = write_signature_model(
        tmp_path / "wrong.onnx", {"image": ["batch", 3, 256, 192]}, {"pose": ["batch", 34, 3]}
    )
    status = repository_main(["--onnx", str(wrong), "--out", str(tmp_path / "repo")])
    assert status == 1
    assert "missing inputs: input0" in capsys.readouterr().err
    assert not (tmp_path / "repo").exists()
