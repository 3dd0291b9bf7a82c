"""`chargen export -o model.onnx`: the model's one step as an ONNX graph, for onnxruntime or any ONNX runtime.

    inputs   ids (B,) int64; h (L, B, H) float32; c (L, B, H) float32 (an LSTM only)
    outputs  logits (B, V); h_out; c_out (an LSTM only)

Only the batch B is dynamic, and every state is an explicit input, so one file serves any number of
streams. The graph is written out from the weights with onnx.helper, the gate equations of
chargen.model.equations in plain MatMul, Add and Exp nodes (sigmoid and tanh through Exp: onnxruntime's
own Sigmoid and Tanh are 2-4 units in the last place off, which a GRU's recurrence grows past 1e-5
over 200 steps), rather than traced through
torch.onnx: the exporters' LSTM and GRU operators carry the known traps (a GRU written without
linear_before_reset=1 is silently off; states that are not inputs pin the batch to 1). `check` then
compares onnxruntime's logits and states with torch's over many steps, and `chargen export` writes
nothing that disagrees. Needs the `onnx` extra (onnx and onnxruntime).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from chargen.errors import ChargenError
from chargen.generate.sample import start_char
from chargen.store.files import describe_os_error
from chargen.store.record import Checkpoint
from chargen.store.weights import as_float32

OPSET = 17
METADATA_KEY = "chargen"
TOLERANCE = 1e-4  # the largest difference from torch (largest_difference) that export accepts
CHECK_STEPS, CHECK_BATCH = 100, 8


def require_onnx():
    """(onnx, onnxruntime), or one line saying how to get them."""
    try:
        import onnx
        import onnxruntime
    except ImportError:
        raise ChargenError("ONNX export needs the onnx extra: pip install 'chargen[onnx]' "
                           "(onnx and onnxruntime)") from None
    return onnx, onnxruntime


def build_model(checkpoint: Checkpoint, facts: dict[str, Any]):
    """The step graph as an onnx.ModelProto, with `facts` and the vocabulary in its metadata."""
    onnx, _ = require_onnx()
    from onnx import TensorProto, helper, numpy_helper

    c = checkpoint.model_config
    w = {k: as_float32(v) for k, v in checkpoint.weights.items()}
    H, L, V, G = c.hidden_size, c.layers, c.vocab_size, c.gates
    lstm, gru = c.cell == "lstm", c.cell == "gru"
    nodes, constants = [], {}

    def const(name: str, array: np.ndarray) -> str:
        constants[name] = numpy_helper.from_array(np.require(array, requirements="C"), name)  # keeps a 0-d index 0-d
        return name

    def node(op: str, inputs: list[str], output: str | list[str], **attributes) -> str | list[str]:
        outputs = [output] if isinstance(output, str) else output
        if op == "Sigmoid":  # 1 / (1 + e^-x)
            exp = node("Exp", [node("Neg", inputs, f"{output}.neg")], f"{output}.exp")
            return node("Reciprocal", [node("Add", [exp, one], f"{output}.den")], output)
        if op == "Tanh":  # 1 - 2 / (e^2x + 1)
            exp = node("Exp", [node("Add", [inputs[0], inputs[0]], f"{output}.twice")], f"{output}.exp")
            return node("Sub", [one, node("Div", [two, node("Add", [exp, one], f"{output}.den")], f"{output}.frac")], output)
        nodes.append(helper.make_node(op, inputs, outputs, **attributes))
        return output

    # The first layer's input part as a lookup table (V, G*H), as chargen.generate.sample.StepModel does.
    inputs = w["embed.weight"] if c.embed_dim else np.eye(V, dtype=np.float32)
    table = inputs @ w["rnn.weight_ih_l0"].T + w["rnn.bias_ih_l0"]
    if not gru:  # a GRU keeps b_hn inside r * (W_hn h + b_hn)
        table += w["rnn.bias_hh_l0"]
    one, two = const("one", np.float32(1.0)), const("two", np.float32(2.0))
    const("table", table.astype(np.float32))
    const("split", np.full(G, H, np.int64))
    const("zero_axis", np.array([0], np.int64))
    x, h_out, c_out = None, [], []
    for k in range(L):
        h = node("Gather", ["h", const(f"layer{k}", np.array(k, np.int64))], f"h{k}", axis=0)  # (B, H)
        whh = const(f"w_hh{k}", w[f"rnn.weight_hh_l{k}"].T.copy())
        gh = node("MatMul", [h, whh], f"hh{k}")
        if k == 0:
            gi = node("Gather", ["table", "ids"], "gi0", axis=0)
        else:
            gi = node("Add", [node("MatMul", [x, const(f"w_ih{k}", w[f"rnn.weight_ih_l{k}"].T.copy())], f"ih{k}"),
                              const(f"b_ih{k}", w[f"rnn.bias_ih_l{k}"])], f"gi{k}")
        if gru or k > 0:
            gh = node("Add", [gh, const(f"b_hh{k}", w[f"rnn.bias_hh_l{k}"])], f"gh{k}")
        if gru:
            ir, iz, in_ = node("Split", [gi, "split"], [f"ir{k}", f"iz{k}", f"in{k}"], axis=1)
            hr, hz, hn = node("Split", [gh, "split"], [f"hr{k}", f"hz{k}", f"hn{k}"], axis=1)
            r = node("Sigmoid", [node("Add", [ir, hr], f"r_pre{k}")], f"r{k}")
            z = node("Sigmoid", [node("Add", [iz, hz], f"z_pre{k}")], f"z{k}")
            n = node("Tanh", [node("Add", [in_, node("Mul", [r, hn], f"rhn{k}")], f"n_pre{k}")], f"n{k}")
            # (1 - z) n + z h = n + z (h - n)
            new_h = node("Add", [n, node("Mul", [z, node("Sub", [h, n], f"h_n{k}")], f"zhn{k}")], f"h_new{k}")
        else:
            a = node("Add", [gi, gh], f"a{k}")
            if lstm:
                cell = node("Gather", ["c", f"layer{k}"], f"c{k}", axis=0)
                i, f, g, o = node("Split", [a, "split"], [f"i_pre{k}", f"f_pre{k}", f"g_pre{k}", f"o_pre{k}"], axis=1)
                kept = node("Mul", [node("Sigmoid", [f], f"f{k}"), cell], f"fc{k}")
                added = node("Mul", [node("Sigmoid", [i], f"i{k}"), node("Tanh", [g], f"g{k}")], f"ig{k}")
                new_c = node("Add", [kept, added], f"c_new{k}")
                new_h = node("Mul", [node("Sigmoid", [o], f"o{k}"), node("Tanh", [new_c], f"tc{k}")], f"h_new{k}")
                c_out.append(node("Unsqueeze", [new_c, "zero_axis"], f"c_out{k}"))
            else:
                new_h = node("Tanh" if c.cell == "rnn-tanh" else "Relu", [a], f"h_new{k}")
        h_out.append(node("Unsqueeze", [new_h, "zero_axis"], f"h_out{k}"))
        x = new_h
    node("Add", [node("MatMul", [x, const("head_w", w["head.weight"].T.copy())], "head"), const("head_b", w["head.bias"])],
         "logits")
    node("Concat", h_out, "h_out", axis=0)
    if lstm:
        node("Concat", c_out, "c_out", axis=0)

    state = lambda name: helper.make_tensor_value_info(name, TensorProto.FLOAT, [L, "batch", H])  # noqa: E731
    graph_inputs = [helper.make_tensor_value_info("ids", TensorProto.INT64, ["batch"]), state("h")]
    graph_outputs = [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", V]), state("h_out")]
    if lstm:
        graph_inputs.append(state("c"))
        graph_outputs.append(state("c_out"))
    graph = helper.make_graph(nodes, f"chargen-{c.cell}-step", graph_inputs, graph_outputs,
                              initializer=list(constants.values()))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="chargen",
                              doc_string="One step of a chargen character model: ids and states in, logits and states out.")
    model.ir_version = 8  # what onnxruntime releases since 1.10 read
    record = {**facts, "vocab": list(checkpoint.vocab.chars), "start_char": start_char(checkpoint.vocab.chars)}
    helper.set_model_props(model, {METADATA_KEY: json.dumps(record, ensure_ascii=False)})
    onnx.checker.check_model(model)
    return model


def session(data: bytes):
    """An onnxruntime session on the CPU for a serialized model."""
    _, onnxruntime = require_onnx()
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3  # errors only: the session is quiet on stderr
    return onnxruntime.InferenceSession(data, options, providers=["CPUExecutionProvider"])


def largest_difference(checkpoint: Checkpoint, data: bytes, steps: int = CHECK_STEPS, batch: int = CHECK_BATCH,
                       seed: int = 0) -> float:
    """The largest difference between onnxruntime's and torch's logits and states, each tensor's as a share
    of its scale (max |a - b| / max(1, max |b|): float32 sums in another order differ by a few units in the
    last place of the largest value), over `steps` steps of `batch` random characters from the zero state,
    each run's state carried to its next step."""
    import torch

    from chargen.model.charrnn import CharRNN

    model = CharRNN.trained(checkpoint.model_config, checkpoint.weights)
    lstm = checkpoint.model_config.cell == "lstm"
    ids = np.random.default_rng(seed).integers(0, checkpoint.model_config.vocab_size, (steps, batch))
    run = session(data)
    torch_state = model.init_state(batch)
    feeds = {"h": torch_state[0].numpy().copy()} | ({"c": torch_state[1].numpy().copy()} if lstm else {})
    worst = 0.0
    with torch.no_grad():
        for t in range(steps):
            logits, torch_state = model(torch.as_tensor(ids[t][:, None]), torch_state)
            out = run.run(None, {"ids": ids[t], **feeds})
            theirs = [logits[:, 0].numpy(), *(s.numpy() for s in torch_state)]
            worst = max(worst, *(float(np.abs(a - b).max() / max(1.0, np.abs(b).max())) for a, b in zip(out, theirs)))
            feeds = {"h": out[1]} | ({"c": out[2]} if lstm else {})
    return worst


def onnx_bytes(checkpoint: Checkpoint, facts: dict[str, Any]) -> bytes:
    """The checked file's bytes; a ChargenError when onnxruntime and torch disagree."""
    data = build_model(checkpoint, facts).SerializeToString()
    worst = largest_difference(checkpoint, data)
    if not worst <= TOLERANCE:
        raise ChargenError(f"the ONNX model disagrees with torch (largest difference {worst:.2e} over "
                           f"{CHECK_STEPS} steps, more than {TOLERANCE:g}); nothing was written")
    return data


def read_onnx_record(path) -> dict[str, Any] | None:
    """The chargen record in an ONNX file's metadata, or None when it holds none."""
    onnx, _ = require_onnx()
    try:
        model = onnx.load(str(path), load_external_data=False)
    except OSError as e:
        raise ChargenError(f"cannot read {path} ({describe_os_error(e)})") from None
    except Exception:  # noqa: BLE001  (protobuf's DecodeError and friends: not an ONNX file)
        return None
    props = {p.key: p.value for p in model.metadata_props}
    try:
        return json.loads(props[METADATA_KEY]) if METADATA_KEY in props else None
    except ValueError:
        return None
