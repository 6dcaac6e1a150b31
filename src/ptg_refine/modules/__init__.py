"""The refinement network R of PTG-RM, one file per paper component."""
from .composition import compose_output
from .coordinates import CoordinateEmbedding, coordinate_grid
from .csa import PTGCSA
from .decoder import Decoder
from .encoder import Encoder
from .per_position_filter import PerPositionFilter, per_position_filter
from .refinement import RefinementNetwork
from .sve import PTGSVE
from .transformer import TransformerBlock

__all__ = ["compose_output", "CoordinateEmbedding", "coordinate_grid", "PTGCSA", "Decoder", "Encoder",
           "PerPositionFilter", "per_position_filter", "RefinementNetwork", "PTGSVE", "TransformerBlock"]
