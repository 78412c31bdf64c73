//! Import of int8 models quantized by onnxruntime's tooling
//! (`onnxruntime.quantization.quantize_static`, activations and weights QInt8,
//! per-tensor), in either of its forms:
//!
//! - **QOperator**: `[QuantizeLinear] → (QGemm | QLinearMatMul) [→ Relu]… → [DequantizeLinear]`;
//! - **QDQ**: `[QuantizeLinear] → (DequantizeLinear → Gemm | MatMul → QuantizeLinear)… → [DequantizeLinear]`,
//!   weights and biases as `DequantizeLinear` of int8 / int32 initializers
//!   (onnxruntime fuses each group into the QGemm it runs).
//!
//! The leading `QuantizeLinear` and trailing `DequantizeLinear` convert real
//! numbers; they stay outside the proven part and give [`Model::input`] and
//! [`Model::output`]. Anything else (another operator, per-channel scales,
//! non-zero weight zero points, transposed inputs, external data) is refused
//! with an [`Error::Unsupported`] naming the node and operator. The protobuf is
//! read through tract-onnx's generated types; no tract runtime is involved.
//!
//! [`export`] writes a model back as a QOperator chain of `QGemm`s, so that an
//! imported model can be run by onnxruntime and compared.

use std::collections::HashMap;

use tract_onnx::pb::{self, NodeProto, TensorProto};
use tract_onnx::prelude::Framework;

use crate::model::{Layer, Model, QuantParams};
use crate::requant::Requant;
use crate::Error;

/// Largest model file read (a model is untrusted input).
pub const MAX_MODEL_BYTES: u64 = 512 << 20;

const INT8: i32 = pb::tensor_proto::DataType::Int8 as i32;
const INT32: i32 = pb::tensor_proto::DataType::Int32 as i32;
const FLOAT: i32 = pb::tensor_proto::DataType::Float as i32;

/// Reads and imports an ONNX file.
pub fn import_path(path: &std::path::Path) -> Result<Model, Error> {
    use std::io::Read;
    let f = std::fs::File::open(path).map_err(|e| Error::Io(format!("{}: {e}", path.display())))?;
    let mut bytes = Vec::new();
    f.take(MAX_MODEL_BYTES + 1).read_to_end(&mut bytes).map_err(|e| Error::Io(format!("{}: {e}", path.display())))?;
    if bytes.len() as u64 > MAX_MODEL_BYTES {
        return Err(Error::Onnx(format!("{} is larger than {MAX_MODEL_BYTES} bytes", path.display())));
    }
    import_bytes(&bytes)
}

/// Imports an ONNX model from its bytes.
pub fn import_bytes(bytes: &[u8]) -> Result<Model, Error> {
    let proto = tract_onnx::onnx()
        .proto_model_for_read(&mut &bytes[..])
        .map_err(|e| Error::Onnx(format!("not an ONNX model: {e}")))?;
    let graph = proto.graph.as_ref().ok_or_else(|| Error::Onnx("the model has no graph".into()))?;
    let model = Graph::new(graph)?.walk()?;
    model.validate()?;
    Ok(model)
}

/// The graph indexed for the walk.
struct Graph<'a> {
    /// Initializers and `Constant` nodes' values, by name.
    constants: HashMap<&'a str, &'a TensorProto>,
    /// The nodes reading each tensor.
    consumers: HashMap<&'a str, Vec<&'a NodeProto>>,
    /// The node writing each tensor.
    producer: HashMap<&'a str, &'a NodeProto>,
    input: &'a pb::ValueInfoProto,
    output: &'a str,
}

fn unsupported(node: &NodeProto, reason: impl Into<String>) -> Error {
    Error::Unsupported { op: op_name(node), node: node.name.clone(), reason: reason.into() }
}

fn op_name(node: &NodeProto) -> String {
    if node.domain.is_empty() || node.domain == "ai.onnx" {
        node.op_type.clone()
    } else {
        format!("{}::{}", node.domain, node.op_type)
    }
}

impl<'a> Graph<'a> {
    fn new(g: &'a pb::GraphProto) -> Result<Self, Error> {
        let mut constants: HashMap<&str, &TensorProto> = g.initializer.iter().map(|t| (t.name.as_str(), t)).collect();
        let mut consumers: HashMap<&str, Vec<&NodeProto>> = HashMap::new();
        let mut producer = HashMap::new();
        for n in &g.node {
            if n.op_type == "Constant" && n.domain.is_empty() {
                let t = n
                    .attribute
                    .iter()
                    .find(|a| a.name == "value")
                    .and_then(|a| a.t.as_ref())
                    .ok_or_else(|| unsupported(n, "only tensor-valued Constant nodes are read"))?;
                if let Some(out) = n.output.first() {
                    constants.insert(out.as_str(), t);
                }
                continue;
            }
            for i in n.input.iter().filter(|i| !i.is_empty()) {
                consumers.entry(i.as_str()).or_default().push(n);
            }
            for o in &n.output {
                producer.insert(o.as_str(), n);
            }
        }
        let inputs: Vec<_> = g.input.iter().filter(|i| !constants.contains_key(i.name.as_str())).collect();
        let [input] = inputs[..] else {
            return Err(Error::Onnx(format!("the graph has {} inputs; an inference model has one", inputs.len())));
        };
        let [output] = &g.output[..] else {
            return Err(Error::Onnx(format!("the graph has {} outputs; an inference model has one", g.output.len())));
        };
        Ok(Graph { constants, consumers, producer, input, output: output.name.as_str() })
    }

    /// The single node reading `tensor`, or None at the graph's output.
    fn next(&self, tensor: &str) -> Result<Option<&'a NodeProto>, Error> {
        let c = self.consumers.get(tensor).map(Vec::as_slice).unwrap_or(&[]);
        match c {
            [] if tensor == self.output => Ok(None),
            [] => Err(Error::Onnx(format!("tensor {tensor:?} is neither read nor the graph's output"))),
            [n] if tensor != self.output => Ok(Some(n)),
            _ => Err(Error::Onnx(format!(
                "tensor {tensor:?} is read {} times{}: only a chain of layers is supported",
                c.len(),
                if tensor == self.output { " and is an output" } else { "" }
            ))),
        }
    }

    fn constant(&self, node: &NodeProto, name: &str) -> Result<&'a TensorProto, Error> {
        self.constants
            .get(name)
            .copied()
            .ok_or_else(|| unsupported(node, format!("input {name:?} must be a constant (initializer)")))
    }

    /// `(scale, zero_point)` inputs of a quantizing node, both per-tensor.
    fn qparams(&self, node: &NodeProto, scale: usize, zp: usize) -> Result<QuantParams, Error> {
        let s = self.constant(node, input(node, scale)?)?;
        let z =
            node.input.get(zp).filter(|z| !z.is_empty()).ok_or_else(|| {
                unsupported(node, "a zero point is required (int8 tensors; a missing one means uint8)")
            })?;
        let z = self.constant(node, z)?;
        let scale = scalar(node, &floats(node, s)?, "scale")?;
        let zero_point = scalar(node, &int8s(node, z)?, "zero point")?;
        Ok(QuantParams { scale, zero_point })
    }

    /// An int8 graph input's quantization, read off the node reading it (QGemm,
    /// QLinearMatMul and DequantizeLinear all take it as inputs 1 and 2).
    fn first_input_q(&self) -> Result<QuantParams, Error> {
        let n = self.next(self.input.name.as_str())?.ok_or_else(|| Error::Onnx("the model does nothing".into()))?;
        self.qparams(n, 1, 2)
    }

    fn walk(&self) -> Result<Model, Error> {
        let elem = match self.input.r#type.as_ref().and_then(|t| t.value.as_ref()) {
            Some(pb::type_proto::Value::TensorType(t)) => t.elem_type,
            _ => return Err(Error::Onnx(format!("graph input {:?} is not a tensor", self.input.name))),
        };
        let mut cur: &str = self.input.name.as_str();
        // Real-valued input: a QuantizeLinear gives the int8 tensor.
        let mut input_q: Option<QuantParams> = None;
        if elem == FLOAT {
            let n = self.next(cur)?.ok_or_else(|| Error::Onnx("the model does nothing".into()))?;
            if n.op_type != "QuantizeLinear" {
                return Err(unsupported(n, "a real-valued input must be quantized first (QuantizeLinear)"));
            }
            input_q = Some(self.qparams(n, 1, 2)?);
            cur = output(n)?;
        } else if elem != INT8 {
            return Err(Error::Onnx(format!("graph input {:?} is neither float nor int8", self.input.name)));
        }
        // The int8 tensor `cur` and its quantization, once known.
        let mut cur_q = input_q;
        let mut layers: Vec<Layer> = Vec::new();
        let mut output_q: Option<QuantParams> = None;
        while let Some(n) = self.next(cur)? {
            match (n.domain.as_str(), n.op_type.as_str()) {
                ("com.microsoft", "QGemm") | ("", "QLinearMatMul") => {
                    let (layer, x_q, y_q, out) = self.qoperator_layer(n)?;
                    check_chain(n, cur_q, x_q)?;
                    layers.push(layer);
                    cur_q = Some(y_q);
                    cur = out;
                }
                ("", "DequantizeLinear") => {
                    let x_q = self.qparams(n, 1, 2)?;
                    check_chain(n, cur_q, x_q)?;
                    let real = output(n)?;
                    match self.next(real)? {
                        None => {
                            output_q = Some(x_q);
                            cur = real;
                        }
                        Some(g) => {
                            let (layer, y_q, out) = self.qdq_layer(g, x_q)?;
                            layers.push(layer);
                            cur_q = Some(y_q);
                            cur = out;
                        }
                    }
                }
                ("", "Relu") => {
                    // onnxruntime's int8 Relu: max(q, 0), a higher floor.
                    let last = layers.last_mut().ok_or_else(|| unsupported(n, "a Relu must follow a layer"))?;
                    last.requant.lo = last.requant.lo.max(0);
                    cur = output(n)?;
                }
                _ => return Err(unsupported(n, "not in the supported layer set (QGemm, QLinearMatMul, Relu, or Gemm/MatMul between DequantizeLinear and QuantizeLinear)")),
            }
        }
        if layers.is_empty() {
            return Err(Error::Onnx("the model has no dense layer".into()));
        }
        let last_q = cur_q.expect("a layer sets its output's quantization");
        let input = match input_q {
            Some(q) => q,
            None => self.first_input_q()?,
        };
        Ok(Model { input, layers, output: output_q.unwrap_or(last_q) })
    }

    /// QGemm (A, a_s, a_zp, B, b_s, b_zp, C, y_s, y_zp) or QLinearMatMul
    /// (A, a_s, a_zp, B, b_s, b_zp, y_s, y_zp).
    fn qoperator_layer(&self, n: &'a NodeProto) -> Result<(Layer, QuantParams, QuantParams, &'a str), Error> {
        let gemm = n.op_type == "QGemm";
        let x_q = self.qparams(n, 1, 2)?;
        let w = self.constant(n, input(n, 3)?)?;
        let w_q = self.qparams(n, 4, 5)?;
        let bias = if gemm { n.input.get(6).filter(|c| !c.is_empty()) } else { None };
        let bias = match bias {
            Some(c) => Some(int32s(n, self.constant(n, c)?)?),
            None => None,
        };
        let (ys, yz) = if gemm { (7, 8) } else { (6, 7) };
        if gemm && n.input.get(ys).is_none_or(|s| s.is_empty()) {
            return Err(unsupported(n, "a QGemm without an output scale gives floats, not int8"));
        }
        let y_q = self.qparams(n, ys, yz)?;
        let alpha = if gemm { gemm_attrs(n)? } else { 1.0 };
        let layer = dense(n, w, w_q, bias, x_q, y_q, alpha, gemm && attr_i(n, "transB") == 1)?;
        Ok((layer, x_q, y_q, output(n)?))
    }

    /// QDQ: `g` is Gemm/MatMul reading the dequantized input, its weights (and
    /// bias) dequantized initializers, its output quantized by one QuantizeLinear.
    fn qdq_layer(&self, g: &'a NodeProto, x_q: QuantParams) -> Result<(Layer, QuantParams, &'a str), Error> {
        let gemm = match (g.domain.as_str(), g.op_type.as_str()) {
            ("", "Gemm") => true,
            ("", "MatMul") => false,
            _ => return Err(unsupported(g, "a dequantized activation must feed Gemm or MatMul")),
        };
        let dq = |name: &str, what: &str| -> Result<&'a NodeProto, Error> {
            match self.producer.get(name) {
                Some(d) if d.op_type == "DequantizeLinear" && d.domain.is_empty() => Ok(d),
                _ => Err(unsupported(g, format!("its {what} must be a DequantizeLinear of an initializer"))),
            }
        };
        let wd = dq(input(g, 1)?, "weight")?;
        let w = self.constant(wd, input(wd, 0)?)?;
        let w_q = self.qparams(wd, 1, 2)?;
        let bias = match g.input.get(2).filter(|c| !c.is_empty() && gemm) {
            Some(c) => {
                let bd = dq(c, "bias")?;
                let b = self.constant(bd, input(bd, 0)?)?;
                let s = scalar(bd, &floats(bd, self.constant(bd, input(bd, 1)?)?)?, "scale")?;
                if s != x_q.scale * w_q.scale {
                    return Err(unsupported(
                        bd,
                        format!("the bias scale {s:e} is not input scale × weight scale ({:e})", x_q.scale * w_q.scale),
                    ));
                }
                if let Some(z) = bd.input.get(2).filter(|z| !z.is_empty()) {
                    if int32s(bd, self.constant(bd, z)?)?.iter().any(|&z| z != 0) {
                        return Err(unsupported(bd, "the bias zero point must be 0"));
                    }
                }
                Some(int32s(bd, b)?)
            }
            None => None,
        };
        let alpha = if gemm { gemm_attrs(g)? } else { 1.0 };
        let q = self.next(output(g)?)?.ok_or_else(|| unsupported(g, "a layer's output must be quantized"))?;
        if q.op_type != "QuantizeLinear" || !q.domain.is_empty() {
            return Err(unsupported(q, "a Gemm/MatMul output must go straight to QuantizeLinear"));
        }
        let y_q = self.qparams(q, 1, 2)?;
        let layer = dense(g, w, w_q, bias, x_q, y_q, alpha, gemm && attr_i(g, "transB") == 1)?;
        Ok((layer, y_q, output(q)?))
    }
}

/// A layer's input must be quantized as the previous layer's output was.
fn check_chain(n: &NodeProto, have: Option<QuantParams>, want: QuantParams) -> Result<(), Error> {
    match have {
        Some(h) if h != want => Err(unsupported(
            n,
            format!(
                "reads its input as scale {:e}, zero point {}, but it was written with scale {:e}, zero point {}",
                want.scale, want.zero_point, h.scale, h.zero_point
            ),
        )),
        _ => Ok(()),
    }
}

/// Builds a layer, folding the input's zero point into the bias.
#[allow(clippy::too_many_arguments)]
fn dense(
    n: &NodeProto,
    w: &TensorProto,
    w_q: QuantParams,
    bias: Option<Vec<i32>>,
    x_q: QuantParams,
    y_q: QuantParams,
    alpha: f32,
    trans_b: bool,
) -> Result<Layer, Error> {
    if w_q.zero_point != 0 {
        return Err(unsupported(n, "weights must be symmetric (zero point 0)"));
    }
    let [r, c] = w.dims[..] else {
        return Err(unsupported(n, format!("the weight tensor has {} dimensions, not 2", w.dims.len())));
    };
    let (r, c) = (usize::try_from(r).unwrap_or(0), usize::try_from(c).unwrap_or(0));
    let raw = int8s(n, w)?;
    let (d_in, d_out) = if trans_b { (c, r) } else { (r, c) };
    let weights: Vec<i8> = if trans_b {
        (0..d_in).flat_map(|l| (0..d_out).map(move |j| (l, j))).map(|(l, j)| raw[j * d_in + l]).collect()
    } else {
        raw
    };
    let bias = bias.unwrap_or_else(|| vec![0; d_out]);
    if bias.len() != d_out {
        return Err(unsupported(
            n,
            format!("{} biases for {d_out} outputs (only a per-output bias is supported)", bias.len()),
        ));
    }
    // onnxruntime: scale = (α · s_x · s_w) / s_y, in float32, in that order.
    let scale = alpha * x_q.scale * w_q.scale / y_q.scale;
    let requant = Requant::new(scale, y_q.zero_point, -128, 127).map_err(|e| unsupported(n, e.to_string()))?;
    // onnxruntime accumulates Σ (x − zp_x)·w + bias in int32: it must not wrap.
    let zx = x_q.zero_point as i64;
    let mut folded = Vec::with_capacity(d_out);
    for j in 0..d_out {
        let (mut col, mut abs) = (0i64, 0i64);
        for l in 0..d_in {
            let w = weights[l * d_out + j] as i64;
            col += w;
            abs += w.abs();
        }
        if 255 * abs + (bias[j] as i64).abs() > i32::MAX as i64 {
            return Err(unsupported(n, format!("output {j}'s accumulator can leave int32")));
        }
        folded
            .push(i32::try_from(bias[j] as i64 - zx * col).map_err(|_| unsupported(n, "a folded bias leaves int32"))?);
    }
    Ok(Layer { d_in, d_out, weights, bias: folded, requant })
}

/// Gemm / QGemm: alpha (returned), beta = 1, transA = 0; transB is read by the caller.
fn gemm_attrs(n: &NodeProto) -> Result<f32, Error> {
    if attr_i(n, "transA") != 0 {
        return Err(unsupported(n, "transA is not supported"));
    }
    if attr_f(n, "beta").is_some_and(|b| b != 1.0) {
        return Err(unsupported(n, "beta other than 1 is not supported"));
    }
    Ok(attr_f(n, "alpha").unwrap_or(1.0))
}

fn attr_i(n: &NodeProto, name: &str) -> i64 {
    n.attribute.iter().find(|a| a.name == name).map_or(0, |a| a.i)
}

fn attr_f(n: &NodeProto, name: &str) -> Option<f32> {
    n.attribute.iter().find(|a| a.name == name).map(|a| a.f)
}

fn input(n: &NodeProto, i: usize) -> Result<&str, Error> {
    n.input
        .get(i)
        .map(String::as_str)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| unsupported(n, format!("input {i} is missing")))
}

fn output(n: &NodeProto) -> Result<&str, Error> {
    n.output.first().map(String::as_str).ok_or_else(|| unsupported(n, "it has no output"))
}

fn scalar<T: Copy>(n: &NodeProto, v: &[T], what: &str) -> Result<T, Error> {
    match v {
        [x] => Ok(*x),
        _ => Err(unsupported(n, format!("{} {what} values: only per-tensor quantization is supported", v.len()))),
    }
}

/// The tensor's element count from its dims, checked against `MAX_MODEL_BYTES`.
fn numel(n: &NodeProto, t: &TensorProto) -> Result<usize, Error> {
    if t.data_location == Some(pb::tensor_proto::DataLocation::External as i32) {
        return Err(unsupported(n, format!("tensor {:?} keeps its data in an external file", t.name)));
    }
    let mut count: u64 = 1;
    for &d in &t.dims {
        let d =
            u64::try_from(d).map_err(|_| unsupported(n, format!("tensor {:?} has a negative dimension", t.name)))?;
        count = count.saturating_mul(d);
    }
    if count > MAX_MODEL_BYTES {
        return Err(unsupported(n, format!("tensor {:?} is too large", t.name)));
    }
    Ok(count as usize)
}

fn typed<'t>(
    n: &NodeProto,
    t: &'t TensorProto,
    want: i32,
    what: &str,
    width: usize,
) -> Result<(usize, &'t [u8]), Error> {
    if t.data_type != want {
        return Err(unsupported(n, format!("tensor {:?} must be {what} (data type {})", t.name, t.data_type)));
    }
    let count = numel(n, t)?;
    if !t.raw_data.is_empty() && t.raw_data.len() != count * width {
        return Err(unsupported(
            n,
            format!("tensor {:?} has {} data bytes for {count} values", t.name, t.raw_data.len()),
        ));
    }
    Ok((count, &t.raw_data))
}

fn int8s(n: &NodeProto, t: &TensorProto) -> Result<Vec<i8>, Error> {
    let (count, raw) = typed(n, t, INT8, "int8", 1)?;
    if !raw.is_empty() {
        return Ok(raw.iter().map(|&b| b as i8).collect());
    }
    if t.int32_data.len() != count {
        return Err(unsupported(n, format!("tensor {:?} has {} values, not {count}", t.name, t.int32_data.len())));
    }
    t.int32_data.iter().map(|&v| i8::try_from(v).map_err(|_| unsupported(n, format!("{v} is not int8")))).collect()
}

fn int32s(n: &NodeProto, t: &TensorProto) -> Result<Vec<i32>, Error> {
    let (count, raw) = typed(n, t, INT32, "int32", 4)?;
    if !raw.is_empty() {
        return Ok(raw.chunks_exact(4).map(|c| i32::from_le_bytes(c.try_into().expect("4 bytes"))).collect());
    }
    if t.int32_data.len() != count {
        return Err(unsupported(n, format!("tensor {:?} has {} values, not {count}", t.name, t.int32_data.len())));
    }
    Ok(t.int32_data.clone())
}

fn floats(n: &NodeProto, t: &TensorProto) -> Result<Vec<f32>, Error> {
    let (count, raw) = typed(n, t, FLOAT, "float32", 4)?;
    if !raw.is_empty() {
        return Ok(raw.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes"))).collect());
    }
    if t.float_data.len() != count {
        return Err(unsupported(n, format!("tensor {:?} has {} values, not {count}", t.name, t.float_data.len())));
    }
    Ok(t.float_data.clone())
}

/// Writes `model` as ONNX: int8 input → `QGemm` (com.microsoft) per layer
/// [→ `Relu`] → int8 output. Each layer's scale is carried whole as the weight
/// scale (input and output scales 1, so onnxruntime's `(1·1·s)/1` is `s`
/// exactly); its input zero point is the previous layer's output's, unfolded
/// from the bias. A layer whose
/// floor is neither −128 nor 0 has no int8 ONNX form and is refused.
pub fn export(model: &Model) -> Result<Vec<u8>, Error> {
    use pb::tensor_proto::DataType;
    use prost::Message;
    model.validate()?;
    let tensor = |name: &str, dims: &[usize], dt: DataType, raw: Vec<u8>| TensorProto {
        name: name.into(),
        dims: dims.iter().map(|&d| d as i64).collect(),
        data_type: dt as i32,
        raw_data: raw,
        ..Default::default()
    };
    let value = |name: &str, width: usize| pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: DataType::Int8 as i32,
                shape: Some(pb::TensorShapeProto {
                    dim: vec![
                        pb::tensor_shape_proto::Dimension {
                            value: Some(pb::tensor_shape_proto::dimension::Value::DimParam("N".into())),
                            ..Default::default()
                        },
                        pb::tensor_shape_proto::Dimension {
                            value: Some(pb::tensor_shape_proto::dimension::Value::DimValue(width as i64)),
                            ..Default::default()
                        },
                    ],
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    };
    let mut nodes = Vec::new();
    let mut inits = vec![
        tensor("one", &[], DataType::Float, 1f32.to_le_bytes().to_vec()),
        tensor("zero", &[], DataType::Int8, vec![0]),
    ];
    let mut cur = "x".to_string();
    for (i, l) in model.layers.iter().enumerate() {
        let rq = l.requant;
        let relu = match (rq.lo, rq.hi) {
            (-128, 127) => false,
            (0, 127) => true,
            (lo, hi) => {
                return Err(Error::Model(format!("layer {i}: outputs in [{lo}, {hi}] have no int8 ONNX form")));
            }
        };
        inits.push(tensor(
            &format!("w{i}"),
            &[l.d_in, l.d_out],
            DataType::Int8,
            l.weights.iter().map(|&w| w as u8).collect(),
        ));
        inits.push(tensor(&format!("s{i}"), &[], DataType::Float, rq.scale.to_le_bytes().to_vec()));
        // The input's zero point is the previous layer's; unfold it from the bias.
        let (x_zp, zx) = match i {
            0 => ("zero".to_string(), 0i64),
            _ => (format!("z{}", i - 1), model.layers[i - 1].requant.zero_point as i64),
        };
        let mut bias = Vec::with_capacity(l.d_out * 4);
        for j in 0..l.d_out {
            let col: i64 = (0..l.d_in).map(|r| l.weight(r, j) as i64).sum();
            let b = i32::try_from(l.bias[j] as i64 + zx * col)
                .map_err(|_| Error::Model(format!("layer {i}: output {j}'s bias leaves int32 in ONNX form")))?;
            bias.extend(b.to_le_bytes());
        }
        inits.push(tensor(&format!("b{i}"), &[l.d_out], DataType::Int32, bias));
        inits.push(tensor(&format!("z{i}"), &[], DataType::Int8, vec![rq.zero_point as u8]));
        let out = format!("h{i}");
        nodes.push(NodeProto {
            name: format!("layer{i}"),
            op_type: "QGemm".into(),
            domain: "com.microsoft".into(),
            input: [
                &cur,
                "one",
                &x_zp,
                &format!("w{i}"),
                &format!("s{i}"),
                "zero",
                &format!("b{i}"),
                "one",
                &format!("z{i}"),
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            output: vec![out.clone()],
            ..Default::default()
        });
        cur = out;
        if relu {
            let out = format!("r{i}");
            nodes.push(NodeProto {
                name: format!("relu{i}"),
                op_type: "Relu".into(),
                input: vec![cur],
                output: vec![out.clone()],
                ..Default::default()
            });
            cur = out;
        }
    }
    let graph = pb::GraphProto {
        name: "veriflop-model".into(),
        node: nodes,
        initializer: inits,
        input: vec![value("x", model.d_in())],
        output: vec![value(&cur, model.d_out())],
        ..Default::default()
    };
    let proto = pb::ModelProto {
        ir_version: 8,
        producer_name: "veriflop".into(),
        opset_import: vec![
            pb::OperatorSetIdProto { domain: String::new(), version: 14 },
            pb::OperatorSetIdProto { domain: "com.microsoft".into(), version: 1 },
        ],
        graph: Some(graph),
        ..Default::default()
    };
    Ok(proto.encode_to_vec())
}
