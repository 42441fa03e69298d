"""Merges decoder_model.onnx and decoder_with_past_model.onnx into
decoder_model_merged.onnx, the layout Optimum writes for whisper: one graph whose `If` on
`use_cache_branch` runs the first pass (false) or the cached step (true), with the weights
the two share stored once. Inputs: input_ids, encoder_hidden_states,
past_key_values.{i}.decoder/encoder.key/value, use_cache_branch; outputs: logits and every
present.{i}.* (in the cached branch the encoder keys are passed through)."""

import argparse
import hashlib
from pathlib import Path

import onnx
from onnx import TensorProto, helper


def _prefix_graph(graph: onnx.GraphProto, prefix: str, outer: set[str]) -> None:
    """Renames every value a branch makes (not outer inputs or shared weights) so the two
    branches never share a name."""
    rename = {}
    for node in graph.node:
        for i, name in enumerate(node.output):
            if name and name not in outer:
                rename[name] = prefix + name
                node.output[i] = rename[name]
    for node in graph.node:
        for i, name in enumerate(node.input):
            if name in rename:
                node.input[i] = rename[name]
        if node.name:
            node.name = prefix + node.name
    for output in graph.output:
        output.name = rename.get(output.name, output.name)
    for info in graph.value_info:
        info.name = rename.get(info.name, info.name)


def merge(first_path: Path, past_path: Path, out_path: Path) -> None:
    first, past = onnx.load(str(first_path)), onnx.load(str(past_path))
    shared: dict[str, str] = {}  # content hash -> outer name
    initializers: list[onnx.TensorProto] = []

    def hoist(graph: onnx.GraphProto, tag: str) -> dict[str, str]:
        rename = {}
        for tensor in graph.initializer:
            key = f"{tensor.data_type}:{list(tensor.dims)}:{hashlib.sha256(onnx.numpy_helper.to_array(tensor).tobytes()).hexdigest()}"
            if key not in shared:
                name = tensor.name
                if any(t.name == name for t in initializers):
                    name = f"{tag}{tensor.name}"
                copy = onnx.TensorProto()
                copy.CopyFrom(tensor)
                copy.name = name
                initializers.append(copy)
                shared[key] = name
            rename[tensor.name] = shared[key]
        for node in graph.node:
            for i, name in enumerate(node.input):
                if name in rename:
                    node.input[i] = rename[name]
        del graph.initializer[:]
        return rename

    hoist(first.graph, "first/")
    hoist(past.graph, "past/")
    inputs = {i.name: i for i in first.graph.input}
    for i in past.graph.input:
        inputs.setdefault(i.name, i)
    outer = set(inputs) | {t.name for t in initializers}
    _prefix_graph(first.graph, "first/", outer)
    _prefix_graph(past.graph, "past/", outer)
    # the cached step returns no encoder keys: pass its inputs through, in the first pass's order
    past_by_name = {o.name.removeprefix("past/"): o for o in past.graph.output}
    then_outputs = []
    for output in first.graph.output:
        outer_name = output.name.removeprefix("first/")
        if outer_name in past_by_name:
            then_outputs.append(past_by_name[outer_name])
        else:
            source = outer_name.replace("present.", "past_key_values.")
            passthrough = f"past/{outer_name}"
            past.graph.node.append(helper.make_node("Identity", [source], [passthrough]))
            info = onnx.ValueInfoProto()
            info.CopyFrom(output)
            info.name = passthrough
            then_outputs.append(info)
    del past.graph.output[:]
    past.graph.output.extend(then_outputs)
    del past.graph.input[:]
    del first.graph.input[:]
    outputs = []
    for output in first.graph.output:
        info = onnx.ValueInfoProto()
        info.CopyFrom(output)
        info.name = output.name.removeprefix("first/")
        outputs.append(info)
    if_node = helper.make_node(
        "If", ["use_cache_branch"], [o.name for o in outputs], name="optimum::if",
        then_branch=past.graph, else_branch=first.graph,
    )
    use_cache = helper.make_tensor_value_info("use_cache_branch", TensorProto.BOOL, [1])
    graph = helper.make_graph(
        [if_node], "merged_decoder", [*inputs.values(), use_cache], outputs, initializer=initializers,
    )
    model = helper.make_model(graph, opset_imports=first.opset_import, producer_name="ncn-whisper merge.py")
    model.ir_version = first.ir_version
    onnx.checker.check_model(model)
    onnx.save(model, str(out_path))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("folder", type=Path)
    args = parser.parse_args()
    merge(args.folder / "decoder_model.onnx", args.folder / "decoder_with_past_model.onnx",
          args.folder / "decoder_model_merged.onnx")


if __name__ == "__main__":
    main()
