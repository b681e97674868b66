"""Human judgement in the loop: Label Studio projects of sampled posts, their annotations back
onto the intention edges, the paper's two-stage selection and its Figure 4."""
