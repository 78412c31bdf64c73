"""Runs an int8 ONNX model with onnxruntime: python run_model.py MODEL X.npy Y.npy"""
import sys

import numpy as np
import onnxruntime as ort

sess = ort.InferenceSession(sys.argv[1], providers=["CPUExecutionProvider"])
x = np.load(sys.argv[2])
(y,) = sess.run(None, {sess.get_inputs()[0].name: x})
assert y.dtype == np.int8, y.dtype
np.save(sys.argv[3], y)
