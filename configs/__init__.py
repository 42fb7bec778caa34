"""The matrices and presets that come with memreplay (installed as ``memreplay.configs``), so
its commands work from any directory. Read with :func:`memreplay.plan.packaged.packaged_config`."""
