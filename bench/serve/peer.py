"""The peer a Python user writes to serve the digits MLP: FastAPI + uvicorn +
ONNX Runtime, TF Serving's row format. The .onnx file is built with the `onnx`
package from tfg's exported params (params.safetensors of a model version).

usage: peer.py MODEL_DIR ONNX_OUT    (writes the .onnx file; `app` serves it
       when imported by uvicorn with PEER_ONNX=ONNX_OUT in the environment)
"""
import json
import os
import struct
import sys

import numpy as np


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        body = f.read()
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        a, b = meta["data_offsets"]
        out[name] = np.frombuffer(body[a:b], dtype=np.float32).reshape(meta["shape"])
    return out


def build(model_dir, onnx_path):
    import onnx
    from onnx import TensorProto as T, helper as h, numpy_helper as nh
    p = read_safetensors(os.path.join(model_dir, "params.safetensors"))
    nodes = [
        h.make_node("MatMul", ["x", "w1"], ["h0"]), h.make_node("Add", ["h0", "b1"], ["h1"]),
        h.make_node("Relu", ["h1"], ["h"]), h.make_node("MatMul", ["h", "w2"], ["l0"]),
        h.make_node("Add", ["l0", "b2"], ["logits"]), h.make_node("Softmax", ["logits"], ["probs"], axis=1),
        h.make_node("ArgMax", ["logits"], ["class"], axis=1, keepdims=0),
    ]
    g = h.make_graph(nodes, "digits", [h.make_tensor_value_info("x", T.FLOAT, ["N", 64])],
                     [h.make_tensor_value_info("probs", T.FLOAT, ["N", 10]),
                      h.make_tensor_value_info("class", T.INT64, ["N"])],
                     [nh.from_array(p[k], k) for k in ["w1", "b1", "w2", "b2"]])
    onnx.save(h.make_model(g, opset_imports=[h.make_opsetid("", 17)]), onnx_path)


if __name__ == "__main__":
    build(sys.argv[1], sys.argv[2])
else:
    import onnxruntime as ort
    from fastapi import FastAPI, Request
    from fastapi.responses import JSONResponse

    sess = ort.InferenceSession(os.environ["PEER_ONNX"], providers=["CPUExecutionProvider"])
    app = FastAPI()

    @app.post("/v1/models/digits:predict")
    async def predict(request: Request):
        body = json.loads(await request.body())
        x = np.asarray(body["instances"], dtype=np.float32)
        probs, cls = sess.run(None, {"x": x})
        return JSONResponse({"predictions": [{"probs": p.tolist(), "class": int(c)} for p, c in zip(probs, cls)]})
