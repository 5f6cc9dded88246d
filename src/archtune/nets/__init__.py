"""Networks from the literature, built from PyTorch layers: MobileOne (with exact re-parameterization) and
SwiftFormer (efficient additive attention), the building blocks of the ``mobileone`` and
``mobileone_swiftformer`` spaces."""
