"""What a trained generative model is for (ARCHITECTURE.md): inversion of real images, image
completion (Yeh et al. 2017), latent arithmetic (Radford et al. 2015 §6) and interpolation
between real images, with their baselines and measures. Functions of a GenerativeModel and
tensors, no Lightning loop; `genlab-apply` (genlab/cli/apply.py) runs them on a data split."""
