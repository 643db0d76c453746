"""Every op of the shipped frame graph is one TensorRT's ONNX parser documents as supported, for the tensor
types and attributes the graph uses: checked here because no machine of the project has TensorRT to try.

The table is onnx-tensorrt's docs/operators.md for TensorRT 10.15 ("supports operators in the inclusive range
of opset 9 to opset 24"), as far as this project's graphs use it: per op the supported types of its data
input, and the restrictions the document states. Its general rules are encoded too: "UINT8 is only supported
as network input or output tensor types" (so only a Cast may touch a uint8 tensor, right at the graph's
boundary), and ops of other domains are plugins, not parser ops. Where the document states no restriction
for an attribute the graph sets (GridSample's mode, padding and align_corners), the values the graph uses
today are pinned, so a new value fails here and gets checked again instead of failing on a user's GPU.

A graph change that brings an op or a type not in the table fails with the node and what to check; add it
only after reading the op's row in that document.
"""

from __future__ import annotations

import onnx
import pytest
from onnx import TensorProto, helper

from liveavatar.engines.bundled import files_for, graphs_dir
from liveavatar.models.checkpoint import bundled_checkpoint, open_checkpoint

SOURCE = "onnx-tensorrt docs/operators.md (TensorRT 10.15)"
OPSETS = range(9, 25)
FLOATS = frozenset({"FLOAT", "FLOAT16", "BFLOAT16"})
INTS = frozenset({"INT32", "INT64"})
BOOL = frozenset({"BOOL"})

# op → the types the document lists for it (of its data input: input 0, Where's X; Cast's both sides).
SUPPORTED: dict[str, frozenset[str]] = {
    "Abs": FLOATS | INTS,
    "Add": FLOATS | INTS,
    "And": BOOL,
    "AveragePool": FLOATS,
    "Cast": FLOATS | INTS | BOOL | {"UINT8"},
    "Clip": FLOATS,
    "Concat": FLOATS | INTS | BOOL,
    "Conv": FLOATS,
    "DepthToSpace": FLOATS | INTS,
    "Div": FLOATS | INTS,
    "Equal": FLOATS | INTS,
    "Expand": FLOATS | INTS | BOOL,
    "Gather": FLOATS | INTS | BOOL,
    "GatherND": FLOATS | INTS | BOOL,
    "Greater": FLOATS | INTS,
    "GridSample": frozenset({"FLOAT", "FLOAT16"}),
    "InstanceNormalization": FLOATS,
    "Less": FLOATS | INTS,
    "Log": FLOATS,
    "MatMul": FLOATS,
    "Mul": FLOATS | INTS,
    "Not": BOOL,
    "Or": BOOL,
    "Pow": FLOATS | INTS,
    "ReduceL2": FLOATS | INTS,
    "ReduceMax": FLOATS | INTS,
    "ReduceMean": FLOATS | INTS,
    "ReduceMin": FLOATS | INTS,
    "ReduceProd": FLOATS | INTS,
    "ReduceSum": FLOATS | INTS,
    "Relu": FLOATS | INTS,
    "Reshape": FLOATS | INTS | BOOL,
    "Resize": FLOATS,
    "Round": FLOATS,
    "Shape": FLOATS | INTS | BOOL,
    "Slice": FLOATS | INTS | BOOL,
    "Softmax": FLOATS,
    "Sub": FLOATS | INTS,
    "Tanh": FLOATS,
    "Transpose": FLOATS | INTS | BOOL,
    "Unsqueeze": FLOATS | INTS | BOOL,
    "Where": FLOATS | INTS | BOOL,
    "Xor": BOOL,
}
# Attribute values the document supports (Resize, AveragePool) or, where it states no restriction, those
# checked for today's graph (GridSample; TensorRT's IGridSampleLayer has linear interpolation, clamp-to-edge
# sampling and an align-corners switch).
ATTRIBUTES: dict[str, dict[str, frozenset]] = {
    "Resize": {
        "coordinate_transformation_mode": frozenset(
            {"half_pixel", "pytorch_half_pixel", "tf_half_pixel_for_nn", "asymmetric", "align_corners"}
        ),
        "mode": frozenset({"nearest", "linear"}),
        "nearest_mode": frozenset({"floor", "ceil", "round_prefer_floor", "round_prefer_ceil"}),
        "keep_aspect_ratio_policy": frozenset({"stretch"}),
        "antialias": frozenset({0}),
    },
    "GridSample": {
        "mode": frozenset({"bilinear", "linear"}),
        "padding_mode": frozenset({"border"}),
        "align_corners": frozenset({0}),
    },
}
CONSTANT_AXES = ("ReduceL2", "ReduceMax", "ReduceMean", "ReduceMin", "ReduceProd", "ReduceSum", "Unsqueeze")


def tensorrt_problems(model: onnx.ModelProto) -> list[str]:
    """Why TensorRT's ONNX parser (per SOURCE) would not take `model`, one line per node and rule; [] if none."""
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    problems = (
        [] if opset in OPSETS else [f"opset {opset} is outside TensorRT 10.15's {OPSETS.start}..{OPSETS.stop - 1}"]
    )
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True).graph
    types: dict[str, str] = {}
    ranks: dict[str, int] = {}
    for value in (*inferred.input, *inferred.output, *inferred.value_info):
        tensor = value.type.tensor_type
        types[value.name] = TensorProto.DataType.Name(tensor.elem_type)
        ranks[value.name] = len(tensor.shape.dim)
    constants = {t.name for t in inferred.initializer}
    for t in inferred.initializer:
        types[t.name] = TensorProto.DataType.Name(t.data_type)
    for node in inferred.node:
        if node.op_type == "Constant":
            constants.update(node.output)
            types[node.output[0]] = TensorProto.DataType.Name(node.attribute[0].t.data_type)
    boundary = {v.name for v in (*inferred.input, *inferred.output)}

    for node in inferred.node:
        where = f"{node.op_type} {node.name or node.output[0]}"
        if node.op_type == "Constant":
            continue
        if node.domain not in ("", "ai.onnx"):
            problems.append(f"{where}: domain {node.domain!r} is a plugin, not an op the parser imports")
            continue
        if node.op_type not in SUPPORTED:
            problems.append(f"{where}: not in the checked list; read its row in {SOURCE} and add it")
            continue
        data = node.input[1] if node.op_type == "Where" else node.input[0]
        checked = [data, node.output[0]] if node.op_type == "Cast" else [data]
        for name in checked:
            if types.get(name) not in SUPPORTED[node.op_type]:
                problems.append(
                    f"{where}: {name} is {types.get(name)}; {SOURCE} lists {sorted(SUPPORTED[node.op_type])}"
                )
        for name in (*node.input, *node.output):
            if types.get(name) == "UINT8" and (node.op_type != "Cast" or name not in boundary):
                problems.append(
                    f"{where}: touches uint8 {name}; uint8 is network I/O only, so only a Cast at the boundary may"
                )
        attributes = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        for attr, allowed in ATTRIBUTES.get(node.op_type, {}).items():
            value = attributes.get(attr)
            value = value.decode() if isinstance(value, bytes) else value
            if value is not None and value not in allowed:
                problems.append(f"{where}: {attr}={value!r}, checked: {sorted(allowed, key=str)}")
        if node.op_type in CONSTANT_AXES and len(node.input) > 1 and node.input[1] not in constants:
            problems.append(f"{where}: axes {node.input[1]} must be an initializer")
        if node.op_type == "AveragePool":
            if len(attributes.get("kernel_shape", ())) not in (2, 3):
                problems.append(f"{where}: 2D or 3D pooling only")
            if any(d != 1 for d in attributes.get("dilations", ())):
                problems.append(f"{where}: dilations must be empty or all ones")
        if node.op_type == "GridSample" and ranks.get(node.input[0]) != 4:
            problems.append(f"{where}: input must be 4D, is {ranks.get(node.input[0])}D")
        if node.op_type == "Resize" and len(node.input) > 2 and node.input[2] and "axes" in attributes:
            if list(attributes["axes"]) != list(range(ranks[node.input[0]])):
                problems.append(f"{where}: with scales, axes must be 0..rank-1")
    return problems


FRAME_GRAPHS = (
    sorted(
        name
        for (graph, _), name in files_for(open_checkpoint(bundled_checkpoint()).config).items()
        if graph in ("generator", "warp_frame")
    )
    if bundled_checkpoint()
    else []
)


@pytest.mark.parametrize("name", FRAME_GRAPHS)
def test_every_op_of_the_shipped_frame_graph_is_one_tensorrt_parses(name):
    model = onnx.load(str(graphs_dir() / name))
    assert tensorrt_problems(model) == []


@pytest.mark.slow
def test_the_papers_generator_graph_is_one_tensorrt_parses(checkpoint_path, tmp_path):
    """The paper's presets' G, exported as TensorRT gets it (fp16, and the fp32 `build-engine --precision fp32`
    builds); the tiny preset has every block kind of the larger ones."""
    from liveavatar.engines.graph_writer import export_generator
    from liveavatar.models.checkpoint import load_checkpoint

    pytest.importorskip("torch")
    checkpoint = load_checkpoint(checkpoint_path, discriminator=False)
    for precision in ("fp16", "fp32"):
        path = export_generator(
            checkpoint.model.generator, checkpoint.config, tmp_path / f"g-{precision}.onnx", "test", precision
        )
        assert tensorrt_problems(onnx.load(str(path))) == [], precision


def test_the_check_names_what_tensorrt_would_refuse():
    """A small graph with one of each fault: uint8 moved by a Transpose, a comparison of booleans, a Resize
    mode the parser lacks, a GridSample padding not checked, and an op outside the list."""
    f, u8, b = TensorProto.FLOAT, TensorProto.UINT8, TensorProto.BOOL
    nodes = [
        helper.make_node("Transpose", ["image"], ["nchw"], perm=[0, 3, 1, 2], name="permute"),
        helper.make_node("Cast", ["nchw"], ["x"], to=f, name="to_float"),
        helper.make_node("Greater", ["x", "zero"], ["positive"], name="gt"),
        helper.make_node("Equal", ["positive", "positive"], ["same"], name="eq"),
        helper.make_node("Resize", ["x", "", "scales"], ["big"], mode="cubic", name="up"),
        helper.make_node("GridSample", ["big", "grid"], ["moved"], padding_mode="reflection", name="warp"),
        helper.make_node("Mod", ["moved", "two"], ["frame"], fmod=1, name="mod"),
    ]
    graph = helper.make_graph(
        nodes,
        "faults",
        [
            helper.make_tensor_value_info("image", u8, [1, 4, 4, 3]),
            helper.make_tensor_value_info("grid", f, [1, 8, 8, 2]),
        ],
        [helper.make_tensor_value_info("frame", f, None), helper.make_tensor_value_info("same", b, None)],
        [
            helper.make_tensor("zero", f, [], [0.0]),
            helper.make_tensor("scales", f, [4], [1.0, 1.0, 2.0, 2.0]),
            helper.make_tensor("two", f, [], [2.0]),
        ],
    )
    problems = tensorrt_problems(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]))
    expected = [
        "Transpose permute: image is UINT8",
        "Transpose permute: touches uint8 image",
        "Transpose permute: touches uint8 nchw",
        "Cast to_float: touches uint8 nchw",
        "Equal eq: positive is BOOL",
        "Resize up: mode='cubic'",
        "GridSample warp: padding_mode='reflection'",
        "Mod mod: not in the checked list",
    ]
    missing = [e for e in expected if not any(p.startswith(e) for p in problems)]
    assert missing == [] and len(problems) == len(expected), problems
