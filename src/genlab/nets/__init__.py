"""Plain `nn.Module`s (torch only, never Lightning).

Encoders map x: (B, *in_shape) → (B, out_dim); decoders map z: (B, latent_dim) →
(B, *out_shape) of unnormalised outputs (logits or means, the model decides).
"""
