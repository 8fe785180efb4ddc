"""The project's tags, applied in one place: every OCI resource that takes freeform tags gets them."""

from __future__ import annotations

from typing import Any

import pulumi

from model.project import Project


def tag_every_resource(project: Project) -> None:
    """Registers a stack transformation; call it before any resource is declared."""
    tags = project.tags

    def tag(args: pulumi.ResourceTransformationArgs) -> pulumi.ResourceTransformationResult | None:
        # Generated resources hand over their `...Args` object; its attributes are the inputs.
        props: dict[str, Any] = vars(args.props) if hasattr(args.props, "__dict__") else dict(args.props)
        if not args.type_.startswith("oci:") or "freeform_tags" not in props:
            return None
        props["freeform_tags"] = {**tags, **(props["freeform_tags"] or {})}
        return pulumi.ResourceTransformationResult(args.props if hasattr(args.props, "__dict__") else props, args.opts)

    pulumi.runtime.register_stack_transformation(tag)
