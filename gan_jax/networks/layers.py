"""Building blocks shared by the convolutional GANs.

- ``maybe_sn``: a layer call, spectrally normalised when asked (Miyato et al.
  2018); the power-iteration vectors live in the ``spectral`` collection.
- ``UPSAMPLERS``: the registry of x2 upsampling layers ("up-convolutions")
  a generator can use, chosen by ``config.upsample``.
- ``Norm``: batch norm, or class-conditional batch norm (Dumoulin et al.
  2017; de Vries et al. 2017) when the generator is conditional.
- ``OutputHead``: a discriminator's last layer: one logit, plus a projection
  term (Miyato & Koyama 2018) or an auxiliary class head (Odena et al. 2017).
- ``CONDITIONING``: the conditioning schemes, chosen by
  ``config.conditioning``.
"""

from __future__ import annotations

import functools
import math
from typing import Callable, Optional

import flax.linen as nn
import jax
import jax.numpy as jnp

# The flax collection that holds spectral-norm vectors (GANState.d_stats).
SPECTRAL = "spectral"

# "none": unconditional; "projection": conditional BN in G, projection D;
# "acgan": conditional BN in G, D with an auxiliary classifier head.
CONDITIONING = ("none", "projection", "acgan")

# Batch-norm momentum: running averages track about the last 10 batches
# (PyTorch's default of 0.1 in its convention), so short runs evaluate well.
BN_MOMENTUM = 0.9


# Random numbers for initialisation are drawn in chunks of this many.
_INIT_CHUNK = 4096
# The standard deviation of a standard normal truncated to [-2, 2].
_TRUNCATED_STD = 0.87962566103423978


def _lecun_normal_chunked(key: jax.Array, shape: tuple[int, ...], dtype=jnp.float32, *,
                          fan_in: Callable[[tuple[int, ...]], int]) -> jax.Array:
  """LeCun normal: truncated normal with variance 1 / fan_in (flax's default kernel init).

  The numbers are drawn in fixed-size chunks (one key per chunk), so every
  layer's draw has the same shape: XLA's CPU compiler then builds one random
  number kernel instead of one per layer shape, which cuts the compile time
  of a network's ``init`` from seconds per layer to about a second in all.

  References:
    LeCun et al. 1998, "Efficient BackProp"; Klambauer et al. 2017.
  """
  size = math.prod(shape)
  chunks = -(-size // _INIT_CHUNK)
  keys = jax.vmap(lambda i: jax.random.fold_in(key, i))(jnp.arange(chunks))
  draws = jax.vmap(lambda k: jax.random.truncated_normal(k, -2.0, 2.0, (_INIT_CHUNK,)))(keys)
  std = math.sqrt(1.0 / max(1, fan_in(shape))) / _TRUNCATED_STD
  return (draws.reshape(-1)[:size].reshape(shape) * std).astype(dtype)


# Conv/dense kernels [..., in, out]: fan-in is every axis but the last.
kernel_init = functools.partial(_lecun_normal_chunked, fan_in=lambda s: math.prod(s[:-1]))
# Embeddings [classes, features]: fan-in is the feature size (as flax's nn.Embed).
embedding_init = functools.partial(_lecun_normal_chunked, fan_in=lambda s: s[-1])


def _valid_rows(x: jax.Array, kernel: jax.Array, stride: int) -> tuple[int, int, jax.Array]:
  """Output size of the VALID conv, and x cropped to the rows and columns it reads."""
  kh, kw = kernel.shape[:2]
  if kh % stride or kw % stride:
    raise ValueError(f"a strided conv needs kernel sides ({kh}x{kw}) divisible by the "
                     f"stride ({stride})")
  out_h = (x.shape[1] - kh) // stride + 1
  out_w = (x.shape[2] - kw) // stride + 1
  # Rows past the last window are never read; without them H and W divide by s.
  return out_h, out_w, x[:, :(out_h - 1) * stride + kh, :(out_w - 1) * stride + kw]


def _kernel_by_blocks(kernel: jax.Array, stride: int) -> jax.Array:
  """[kh, kw, C, F] -> [kh/s, kw/s, s, s, C, F]: tap (s a + r, s a' + r') at [a, a', r, r']."""
  kh, kw, cin, cout = kernel.shape
  return kernel.reshape(kh // stride, stride, kw // stride, stride, cin, cout).transpose(
      0, 2, 1, 3, 4, 5)


def _conv_xla(x: jax.Array, kernel: jax.Array, stride: int = 1) -> jax.Array:
  """``lax.conv_general_dilated``; a strided conv as a stride-1 conv on s x s blocks.

  On blocks (space-to-depth) the kernel [k, k, C, F] becomes [k/s, k/s, s s C,
  F] and every gradient has stride 1, whereas the gradient of a strided
  convolution with respect to its kernel is a window-dilated convolution,
  which XLA's CPU backend runs through a naive loop.
  """
  if stride > 1:
    _, _, x = _valid_rows(x, kernel, stride)
    blocked = _kernel_by_blocks(kernel, stride)
    kernel = blocked.reshape(blocked.shape[:2] + (-1, kernel.shape[-1]))
    x = space_to_depth(x, stride)
  return jax.lax.conv_general_dilated(x, kernel, (1, 1), "VALID",
                                      dimension_numbers=("NHWC", "HWIO", "NHWC"))


def _conv_matmul(x: jax.Array, kernel: jax.Array, stride: int = 1) -> jax.Array:
  """The convolution as one matmul, on the input or the output side.

  Input side (im2col): the k x k patches of x [B, H, W, k k Cin] times the
  kernel [k k Cin, Cout]. Tap ky of output row y reads input row s y + ky;
  with ky = s a + r that is row r of block y + a of the input cut into s x s
  blocks (a free reshape), so the patches are plain slices of the blocked
  input, s taps of all channels at a time, with no strided reads and no
  space-to-depth transpose (XLA's CPU backend runs those as slow
  element-wise loops: the DCGAN D's patches took 17.6 ms of op time per
  step that way, 6.2 ms this way).

  Output side (stride 1): x [B, H_in, W_in, Cin] times all taps' kernels at
  once [Cin, k k Cout], then the sum over taps of the shifted outputs. Both
  compute the same sums, in another order; the one whose big intermediate
  (patches or per-tap outputs) is smaller moves less data. The output side is
  taken only when it moves at most half the data, because it also
  multiplies the padding rows: it is for layers with few output channels,
  like a generator's image layer (G 14x14, 64 -> 4, batch 64 in
  ``lax.scan``: forward, input and kernel gradients 4.3, 5.7 and 9.8 ms on
  the input side, 1.5, 4.2 and 2.2 ms on the output side).

  Its derivatives, of any order and in either mode, are slices, pads and
  matmuls. XLA's own convolution gradients run through a naive loop on the
  CPU when they sit inside a loop (the ``lax.scan`` of the fused training
  loop, or of ``d_steps_per_g_step``): 40-90x slower than these, measured
  with ``benchmarks/conv_timing.py``.
  """
  kh, kw, cin, cout = kernel.shape
  out_h, out_w, x = _valid_rows(x, kernel, stride)
  in_h, in_w = x.shape[1:3]
  if stride == 1 and 2 * in_h * in_w * cout <= out_h * out_w * cin:
    taps = [(i, j) for i in range(kh) for j in range(kw)]
    per_tap = x @ kernel.transpose(2, 0, 1, 3).reshape(cin, kh * kw * cout)
    # lax.split's derivative concatenates the taps' cotangents (a slice's
    # would pad each to the size of all of them before summing).
    tap_out = jax.lax.split(per_tap, [cout] * len(taps), axis=-1)
    return sum(t[:, i:i + out_h, j:j + out_w] for t, (i, j) in zip(tap_out, taps))
  batch, s = x.shape[0], stride
  if s == 1:
    pieces = [x[:, i:i + out_h, j:j + out_w] for i in range(kh) for j in range(kw)]
  else:
    blocks = x.reshape(batch, in_h // s, s, in_w // s, s, cin)
    pieces = [blocks[:, a:a + out_h, r, b:b + out_w].reshape(batch, out_h, out_w, s * cin)
              for a in range(kh // s) for b in range(kw // s) for r in range(s)]
  # Patch channels are ordered (a, a', r, r', Cin) for ky = s a + r, kx = s a' + r'.
  patches = jnp.concatenate(pieces, axis=-1)
  return patches @ _kernel_by_blocks(kernel, s).reshape(kh * kw * cin, cout)


# VALID convolutions ``f(x, kernel, stride=1)`` of NHWC images with HWIO
# kernels (sides divisible by the stride), by ``config.conv_impl``: "matmul"
# (one matmul on the input or output side, the default: fastest on the CPU,
# also inside loops) or "xla" (lax.conv_general_dilated).
CONV_IMPLS: dict[str, Callable[..., jax.Array]] = {
    "matmul": _conv_matmul,
    "xla": _conv_xla,
}


def conv_impl_names() -> list[str]:
  return sorted(CONV_IMPLS)


def conv_impl(name: str) -> Callable[..., jax.Array]:
  try:
    return CONV_IMPLS[name]
  except KeyError:
    raise ValueError(f"unknown conv_impl {name!r}; known: {', '.join(conv_impl_names())}") from None


class Conv(nn.Module):
  """A stride-1 convolution with SAME padding and a bias; ``nn.Conv``'s parameters.

  Attributes:
    features: output channels.
    kernel_size: (kh, kw).
    impl: a ``CONV_IMPLS`` name.
    kernel_init: initialiser of the [kh, kw, in, out] kernel.
  """

  features: int
  kernel_size: tuple[int, int]
  impl: str = "matmul"
  kernel_init: Callable = kernel_init

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    kh, kw = self.kernel_size
    kernel = self.param("kernel", self.kernel_init, (kh, kw, x.shape[-1], self.features))
    bias = self.param("bias", nn.initializers.zeros_init(), (self.features,))
    # lax's SAME padding for stride 1: k - 1 in all, the extra one at the end.
    pads = ((0, 0), ((kh - 1) // 2, kh // 2), ((kw - 1) // 2, kw // 2), (0, 0))
    return conv_impl(self.impl)(jnp.pad(x, pads), kernel) + bias


def conv(features: int, kernel_size: tuple[int, int], impl: str) -> Conv:
  """A stride-1 SAME ``Conv`` with the chunked LeCun-normal kernel init."""
  return Conv(features, tuple(kernel_size), impl)


def space_to_depth(x: jax.Array, block: int = 2) -> jax.Array:
  """[B, block H, block W, C] -> [B, H, W, block^2 C], the inverse of ``depth_to_space``."""
  b, h, w, c = x.shape
  x = x.reshape(b, h // block, block, w // block, block, c)
  return x.transpose(0, 1, 3, 2, 4, 5).reshape(b, h // block, w // block, block * block * c)


class StridedConv(nn.Module):
  """A k x k convolution with stride s and SAME padding; ``nn.Conv``'s parameters.

  Computed by ``CONV_IMPLS[impl]`` on s x s blocks of the input (see
  ``_conv_matmul`` and ``_conv_xla``), so that neither the convolution nor
  its gradients read strided windows. The parameters are nn.Conv's
  (``kernel`` [k, k, C, F], ``bias`` [F]), so spectral norm and the
  initialisation see the same weights.
  """

  features: int
  kernel_size: int = 4
  stride: int = 2
  impl: str = "matmul"

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    k, s = self.kernel_size, self.stride
    kernel = self.param("kernel", kernel_init, (k, k, x.shape[-1], self.features))
    bias = self.param("bias", nn.initializers.zeros_init(), (self.features,))
    pads = []
    for n in x.shape[1:3]:
      total = max((-(-n // s) - 1) * s + k - n, 0)  # SAME padding, as lax computes it.
      pads.append((total // 2, total - total // 2))
    return conv_impl(self.impl)(jnp.pad(x, ((0, 0), *pads, (0, 0))), kernel, s) + bias


def dense(features: int) -> nn.Dense:
  """``nn.Dense`` with the chunked LeCun-normal kernel init."""
  return nn.Dense(features, kernel_init=kernel_init)


def maybe_sn(layer: nn.Module, x: jax.Array, *, spectral_norm: bool,
             update_stats: bool) -> jax.Array:
  """``layer(x)``, with the layer's weights divided by their spectral norm if asked.

  One power iteration per call from the stored vector; the updated vector is
  stored only when ``update_stats`` (once per discriminator update).

  References:
    Miyato et al. 2018, "Spectral Normalization for GANs", Algorithm 1.
  """
  if not spectral_norm:
    return layer(x)
  return nn.SpectralNorm(layer, collection_name=SPECTRAL)(x, update_stats=update_stats)


def default_labels(batch_size: int, num_classes: int) -> jax.Array:
  """0, 1, .., K-1, 0, 1, ..: the labels of a conditional generator called without any.

  Code that samples without labels (an unconditional evaluator) then gets
  every class equally often.
  """
  return jnp.arange(batch_size, dtype=jnp.int32) % num_classes


def nearest_up(x: jax.Array) -> jax.Array:
  """x2 nearest-neighbour upsampling of [B, H, W, C]."""
  b, h, w, c = x.shape
  return jnp.broadcast_to(x[:, :, None, :, None, :], (b, h, 2, w, 2, c)).reshape(b, 2 * h, 2 * w, c)


def depth_to_space(x: jax.Array, block: int = 2) -> jax.Array:
  """[B, H, W, block^2 C] -> [B, block H, block W, C].

  Channel ``(i * block + j) * C + c`` of pixel (y, x) goes to channel c of
  pixel (block y + i, block x + j).
  """
  b, h, w, cc = x.shape
  c = cc // (block * block)
  x = x.reshape(b, h, w, block, block, c)
  return x.transpose(0, 1, 3, 2, 4, 5).reshape(b, h * block, w * block, c)


def _icnr(base_init: Callable, block: int = 2) -> Callable:
  """Initialises a sub-pixel conv so its output starts as a nearest upsampling.

  Every one of the block^2 sub-pixel positions starts with the same kernel,
  which removes the checkerboard pattern at initialisation.

  References:
    Aitken et al. 2017, "Checkerboard artifact free sub-pixel convolution".
  """

  def init(key, shape, dtype=jnp.float32):
    base = base_init(key, shape[:-1] + (shape[-1] // (block * block),), dtype)
    return jnp.tile(base, (1,) * (len(shape) - 1) + (block * block,))

  return init


class SubpixelUp(nn.Module):
  """x2 up-convolution: a 3x3 conv to 4x the channels, then depth-to-space.

  References:
    Shi et al. 2016, "Real-Time Single Image and Video Super-Resolution Using
    an Efficient Sub-Pixel Convolutional Neural Network".
  """

  features: int
  impl: str = "matmul"

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    return depth_to_space(
        Conv(4 * self.features, (3, 3), self.impl, kernel_init=_icnr(kernel_init))(x))


def transposed_conv_matmul(x: jax.Array, kernel: jax.Array) -> jax.Array:
  """``nn.ConvTranspose``'s 4x4 stride-2 SAME transposed convolution as one matmul.

  Every input pixel times the kernel paints a 4x4 patch of the output
  (col2im): output pixel 2i + k - 1 collects tap k of input pixel i, for the
  flipped kernel. With k = 2q + r, tap (q, r) of pixel i lands in block
  i + q, at offset r, of the output read as 2x2 blocks. So x [B, H, W, Cin]
  times the flipped kernel [Cin, 4 4 F], its columns ordered (qy, qx, ry,
  rx, F), gives four [B H W, 4F] parts (one per shift (qy, qx)); the output
  is their shifted sum, its blocks interleaved (as ``depth_to_space``) and
  cropped. That is 16 Cin F multiply-adds per input pixel, the transposed
  convolution's own count (a 3x3 sub-pixel convolution to 4F channels does
  36), and every derivative is slices, pads and matmuls, unlike XLA's
  transposed convolution on the CPU. The parts are cut with ``lax.split``,
  whose derivative concatenates their cotangents: with slices, each part's
  cotangent would be padded to the full product before they are summed
  (the fused DCGAN loop ran 10.8 steps/s that way, 12.6 with the split).
  """
  b, h, w, cin = x.shape
  features = kernel.shape[-1]
  # [ky, kx, Cin, F] -> [Cin, qy, qx, ry, rx, F] with k = 2q + r.
  flipped = kernel[::-1, ::-1].reshape(2, 2, 2, 2, cin, features).transpose(4, 0, 2, 1, 3, 5)
  taps = x.reshape(-1, cin) @ flipped.reshape(cin, 16 * features)
  parts = jax.lax.split(taps, [4 * features] * 4, axis=1)
  blocks = sum(jnp.pad(parts[2 * qy + qx].reshape(b, h, w, 2, 2, features),
                       ((0, 0), (qy, 1 - qy), (qx, 1 - qx), (0, 0), (0, 0), (0, 0)))
               for qy in range(2) for qx in range(2))
  out = depth_to_space(blocks.reshape(b, h + 1, w + 1, 4 * features))
  return out[:, 1:2 * h + 1, 1:2 * w + 1]


class _ConvTransposeAsMatmul(nn.Module):
  """``nn.ConvTranspose(F, (4, 4), strides=(2, 2), padding="SAME")`` as ``transposed_conv_matmul``.

  Same parameters and outputs (to float rounding).
  """

  features: int

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    kernel = self.param("kernel", kernel_init, (4, 4, x.shape[-1], self.features))
    bias = self.param("bias", nn.initializers.zeros_init(), (self.features,))
    return transposed_conv_matmul(x, kernel) + bias


class TransposeUp(nn.Module):
  """x2 up-convolution: a 4x4 transposed convolution with stride 2 (DCGAN's).

  With ``impl="xla"`` it is flax's ``nn.ConvTranspose`` (XLA's transposed
  convolution, which XLA's CPU backend differentiates slowly inside loops);
  otherwise the same layer, with the same parameter names, computed as one
  matmul and a shifted sum (``transposed_conv_matmul``). It does 16/36 of
  the multiply-adds of ``SubpixelUp`` (a 3x3 convolution to 4x the
  channels), whose kernel can express more.

  References:
    Radford et al. 2016, "Unsupervised Representation Learning with DCGANs".
  """

  features: int
  impl: str = "matmul"

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    if self.impl == "xla":
      return nn.ConvTranspose(self.features, (4, 4), strides=(2, 2), padding="SAME",
                              kernel_init=kernel_init)(x)
    return _ConvTransposeAsMatmul(self.features, name="ConvTranspose_0")(x)


class ResizeUp(nn.Module):
  """x2 up-convolution: nearest-neighbour resize, then a 3x3 conv.

  References:
    Odena et al. 2016, "Deconvolution and Checkerboard Artifacts", Distill.
  """

  features: int
  impl: str = "matmul"

  @nn.compact
  def __call__(self, x: jax.Array) -> jax.Array:
    return conv(self.features, (3, 3), self.impl)(nearest_up(x))


UPSAMPLERS: dict[str, type[nn.Module]] = {
    "subpixel": SubpixelUp,
    "transpose": TransposeUp,
    "resize": ResizeUp,
}


def upsample_names() -> list[str]:
  return sorted(UPSAMPLERS)


def upsampler(name: str) -> type[nn.Module]:
  try:
    return UPSAMPLERS[name]
  except KeyError:
    raise ValueError(f"unknown upsampling {name!r}; known: {', '.join(upsample_names())}") from None


class Norm(nn.Module):
  """Batch norm; class-conditional (per-class scale and shift) when ``num_classes`` > 0.

  In train mode it normalises with the batch's statistics (over all devices
  when ``axis_name`` names the pmap axis) and updates the running averages
  in ``batch_stats``; in inference mode it uses the averages.

  References:
    Ioffe & Szegedy 2015; conditional: Dumoulin et al. 2017, "A Learned
    Representation for Artistic Style", de Vries et al. 2017.
  """

  num_classes: int = 0
  axis_name: Optional[str] = None

  @nn.compact
  def __call__(self, x: jax.Array, labels: Optional[jax.Array], train: bool) -> jax.Array:
    conditional = self.num_classes > 0
    x = nn.BatchNorm(use_running_average=not train, momentum=BN_MOMENTUM,
                     use_scale=not conditional, use_bias=not conditional,
                     axis_name=self.axis_name)(x)
    if not conditional:
      return x
    features = x.shape[-1]
    gamma = nn.Embed(self.num_classes, features, embedding_init=nn.initializers.ones)(labels)
    beta = nn.Embed(self.num_classes, features, embedding_init=nn.initializers.zeros)(labels)
    shape = (x.shape[0],) + (1,) * (x.ndim - 2) + (features,)
    return x * gamma.reshape(shape) + beta.reshape(shape)


class OutputHead(nn.Module):
  """Features [B, F] -> logits [B] (and class logits [B, K] for ACGAN).

  ``projection``: logit = psi(h) + <embed(y), h> (Miyato & Koyama 2018,
  eq. (3)); without labels only psi(h) is returned. ``acgan``: a K-way
  classifier on the same features (Odena et al. 2017), returned when asked.
  """

  conditioning: str = "none"
  num_classes: int = 0
  spectral_norm: bool = False

  @nn.compact
  def __call__(self, h: jax.Array, labels: Optional[jax.Array], *, update_stats: bool,
               with_class_logits: bool):
    sn = dict(spectral_norm=self.spectral_norm, update_stats=update_stats)
    logits = maybe_sn(dense(1), h, **sn)[:, 0]
    if self.conditioning == "projection" and labels is not None:
      embedding = maybe_sn(nn.Embed(self.num_classes, h.shape[-1], embedding_init=embedding_init),
                           labels, **sn)
      logits = logits + jnp.sum(embedding * h, axis=-1)
    if self.conditioning != "acgan":
      if with_class_logits:
        raise ValueError("class logits need conditioning='acgan'")
      return logits
    class_logits = maybe_sn(dense(self.num_classes), h, **sn)
    return (logits, class_logits) if with_class_logits else logits
