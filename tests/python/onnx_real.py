"""The ImageNet topologies the onnx wheel ships (onnx/backend/test/data/light):
each with random weights (its ConstantOfShape fills and its initializers
replaced by random values of the same shapes), so that outputs are not
uniform, and a random input; ONNX Runtime's output beside it.

usage: onnx_real.py NAME OUT_DIR   writes OUT_DIR/model.onnx, input.npy and
expected.npy, and prints the input's and the output's names. NAME is e.g.
squeezenet."""
import os, sys
import numpy as np
import onnx
from onnx import helper, numpy_helper
import onnxruntime as ort

name, out = sys.argv[1], sys.argv[2]
light = os.path.join(os.path.dirname(onnx.__file__), "backend/test/data/light")
model = onnx.load(os.path.join(light, f"light_{name}.onnx"))
g = model.graph
rng = np.random.default_rng(0)


def weight(name, dims):
    """Batch-norm variances and scales positive near 1, other vectors small,
    filters scaled by fan-in so that 50 layers of residual sums stay finite."""
    dims = [int(d) for d in dims]
    if len(dims) == 1 and any(k in name for k in ("var", "riv", "scale", "gamma", "_s_0")):
        return rng.uniform(0.5, 1.5, dims).astype(np.float32)
    if len(dims) <= 1:
        return rng.uniform(-0.1, 0.1, dims).astype(np.float32)
    fan_in = int(np.prod(dims[1:]))
    return rng.normal(0.0, 0.5 / np.sqrt(max(fan_in, 1)), dims).astype(np.float32)


inits = {i.name: i for i in g.initializer}
kept, weights = [], {}
for node in g.node:
    shape = inits.get(node.input[0]) if node.op_type == "ConstantOfShape" else None
    if shape is None:
        kept.append(node)
    else:
        weights[node.output[0]] = weight(node.output[0], numpy_helper.to_array(shape))
for i in g.initializer:
    if i.data_type == onnx.TensorProto.FLOAT and i.name not in weights:
        weights[i.name] = weight(i.name, i.dims)
used = {i for n in kept for i in n.input}
initializers = [numpy_helper.from_array(v, k) for k, v in weights.items() if k in used]
initializers += [i for i in g.initializer if i.name in used and i.name not in weights]
names = {i.name for i in initializers}
# IR version 3 lists every initializer among the inputs too.
inputs = [i for i in g.input if i.name in names or i.name not in inits]
listed = {i.name for i in inputs}
inputs += [helper.make_tensor_value_info(i.name, i.data_type, list(i.dims)) for i in initializers if i.name not in listed]
del g.node[:]
g.node.extend(kept)
del g.initializer[:]
g.initializer.extend(initializers)
del g.input[:]
g.input.extend(inputs)
onnx.checker.check_model(model)
os.makedirs(out, exist_ok=True)
path = os.path.join(out, "model.onnx")
onnx.save(model, path)
feed = next(i for i in inputs if i.name not in names)
shape = [d.dim_value for d in feed.type.tensor_type.shape.dim]
x = rng.uniform(0.0, 1.0, shape).astype(np.float32)
np.save(os.path.join(out, "input.npy"), x)
session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
y = session.run(None, {feed.name: x})[0]
assert np.all(np.isfinite(y)) and y.std() > 0, f"{name}: ONNX Runtime's output is not informative"
np.save(os.path.join(out, "expected.npy"), y)
print(feed.name, session.get_outputs()[0].name)
