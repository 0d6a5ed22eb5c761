"""The official clients against a running `tfg serve` (tests/serve.rs).

Usage: serve_clients.py REST_ADDR GRPC_ADDR CLIENT..., for the `affine`
model of tests/serve.rs, where CLIENT is `requests`, `tritonclient` or
`tensorflow-serving-api`. Prints `ok CLIENT` for each client that got the
right answers.
"""

import sys

import numpy as np

rest, grpc_addr = sys.argv[1], sys.argv[2]
x = np.array([[1, 2, 3], [-1, 0.5, 2]], dtype=np.float32)
w = np.array([[1, 2], [3, 4], [5, 6]], dtype=np.float32)
y = (x @ w + np.array([0.5, -0.5], dtype=np.float32)) * 2
s = y.sum(axis=1)


def with_requests():
    """TF Serving's REST API."""
    import requests

    r = requests.post(f"http://{rest}/v1/models/affine:predict", json={"instances": x.tolist()})
    assert r.status_code == 200, r.text
    got = r.json()["predictions"]
    assert np.allclose([p["y"] for p in got], y, rtol=1e-5), got
    assert np.allclose([p["s"] for p in got], s, rtol=1e-5), got



def with_tritonclient():
    """Open Inference Protocol v2, JSON tensors."""
    import tritonclient.http as httpclient

    client = httpclient.InferenceServerClient(url=rest)
    assert client.is_server_live() and client.is_server_ready()
    assert client.is_model_ready("affine")
    inp = httpclient.InferInput("x", list(x.shape), "FP32")
    inp.set_data_from_numpy(x, binary_data=False)
    out = [httpclient.InferRequestedOutput("y", binary_data=False)]
    result = client.infer("affine", [inp], outputs=out)
    assert np.allclose(result.as_numpy("y"), y, rtol=1e-5), result.as_numpy("y")



def with_tensorflow_serving_api():
    """gRPC."""
    import grpc
    from tensorflow_serving.apis import get_model_metadata_pb2, get_model_status_pb2
    from tensorflow_serving.apis import model_service_pb2_grpc, predict_pb2
    from tensorflow_serving.apis import prediction_service_pb2_grpc
    from tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2

    channel = grpc.insecure_channel(grpc_addr)
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    req = predict_pb2.PredictRequest()
    req.model_spec.name = "affine"
    req.model_spec.signature_name = "serving_default"
    t = tensor_pb2.TensorProto(
        dtype=types_pb2.DT_FLOAT,
        tensor_shape=tensor_shape_pb2.TensorShapeProto(
            dim=[tensor_shape_pb2.TensorShapeProto.Dim(size=d) for d in x.shape]
        ),
        tensor_content=x.tobytes(),
    )
    req.inputs["x"].CopyFrom(t)
    resp = stub.Predict(req, timeout=30)
    got_y = np.array(resp.outputs["y"].float_val, dtype=np.float32).reshape(2, 2)
    assert np.allclose(got_y, y, rtol=1e-5), got_y
    meta = get_model_metadata_pb2.GetModelMetadataRequest()
    meta.model_spec.name = "affine"
    meta.metadata_field.append("signature_def")
    m = stub.GetModelMetadata(meta, timeout=30)
    assert "signature_def" in m.metadata
    status = get_model_status_pb2.GetModelStatusRequest()
    status.model_spec.name = "affine"
    st = model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(status, timeout=30)
    assert st.model_version_status[0].state == 30, st


CLIENTS = {
    "requests": with_requests,
    "tritonclient": with_tritonclient,
    "tensorflow-serving-api": with_tensorflow_serving_api,
}
for name in sys.argv[3:]:
    CLIENTS[name]()
    print("ok", name)
