"""DiT4DiT model: a hooked Cosmos-Predict2.5 video DiT (video_backbone) conditioning a flow-matching action DiT.

Submodules are imported explicitly by their users (no re-exports here) so that `import dit4dit_ros.model`
stays cheap and does not pull in torch/diffusers for CLI help.
"""
