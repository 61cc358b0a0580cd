//! A plugin's kinds as one table: each kind's name, role, help and constructor, written
//! once and used for [`PluginInfo`], for dispatching `new_detector`/`new_recognizer`, for
//! the unknown-kind help and for `check_options`. [`export_plugin!`](crate::export_plugin)
//! turns a [`Plugin`] into the root module.

use abi_stable::sabi_trait::TD_Opaque;
use abi_stable::std_types::{RResult, RString};
use facelab_plugin_api::{
    CreateArgs, Detector, DetectorBox, Detector_TO, ErrorCode, KindInfo, PluginError, PluginInfo,
    Recognizer, RecognizerBox, Recognizer_TO, CAP_DETECT_V1, CAP_EMBED_V1, CAP_PANIC_SAFE,
};

use crate::guard;

/// Builds a detector from the host's arguments.
pub type NewDetector = fn(&CreateArgs<'_>) -> Result<DetectorBox, PluginError>;
/// Builds a recognizer from the host's arguments.
pub type NewRecognizer = fn(&CreateArgs<'_>) -> Result<RecognizerBox, PluginError>;
/// Parses and checks a kind's options table (TOML text) without loading any model.
pub type CheckOptions = fn(&str) -> Result<(), PluginError>;

/// What a kind is and how to build one; the variant is the kind's role.
#[derive(Clone, Copy)]
pub enum Constructor {
    /// A detector kind.
    Detector(NewDetector),
    /// A recognizer kind.
    Recognizer(NewRecognizer),
}

/// `detector` or `recognizer`, as the host's config sections are named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// `[detector]`.
    Detector,
    /// `[recognizer]`.
    Recognizer,
}

impl Role {
    /// The config section's name.
    pub fn name(self) -> &'static str {
        match self {
            Role::Detector => "detector",
            Role::Recognizer => "recognizer",
        }
    }
}

/// One row of a plugin's kind table.
#[derive(Clone, Copy)]
pub struct Kind {
    /// The name the host config's `kind` key uses.
    pub name: &'static str,
    /// One line saying what it runs (shown by `facelab plugins`).
    pub help: &'static str,
    /// Its role and constructor.
    pub new: Constructor,
    /// Its options check.
    pub check_options: CheckOptions,
}

impl Kind {
    /// The kind's role.
    pub fn role(&self) -> Role {
        match self.new {
            Constructor::Detector(_) => Role::Detector,
            Constructor::Recognizer(_) => Role::Recognizer,
        }
    }
}

/// A plugin: its name, version and kind table.
pub struct Plugin {
    /// The name the host config's `plugin` key uses.
    pub name: &'static str,
    /// The plugin crate's version.
    pub version: &'static str,
    /// Every kind, detectors and recognizers.
    pub kinds: &'static [Kind],
}

/// A detector value as the ABI's trait object.
pub fn detector_box(d: impl Detector + 'static) -> DetectorBox {
    Detector_TO::from_value(d, TD_Opaque)
}

/// A recognizer value as the ABI's trait object.
pub fn recognizer_box(r: impl Recognizer + 'static) -> RecognizerBox {
    Recognizer_TO::from_value(r, TD_Opaque)
}

/// The constructor of a detector kind that parses its options, then loads with them:
/// `options(args)`, then `load(args, options)`, boxed. A kind table entry reads
/// `Constructor::Detector(|args| load_detector(args, parse, family::load))`.
pub fn load_detector<O, D: Detector + 'static>(
    args: &CreateArgs<'_>,
    options: impl FnOnce(&CreateArgs<'_>) -> Result<O, PluginError>,
    load: impl FnOnce(&CreateArgs<'_>, O) -> Result<D, PluginError>,
) -> Result<DetectorBox, PluginError> {
    Ok(detector_box(load(args, options(args)?)?))
}

impl Plugin {
    fn of_role(&self, role: Role) -> impl Iterator<Item = &Kind> {
        self.kinds.iter().filter(move |k| k.role() == role)
    }

    /// The plugin's [`PluginInfo`]: the kinds by role, and the capabilities they imply.
    pub fn info(&self) -> PluginInfo {
        let kinds = |role| {
            self.of_role(role)
                .map(|k| KindInfo {
                    name: k.name.into(),
                    description: k.help.into(),
                })
                .collect()
        };
        let mut capabilities = vec![CAP_PANIC_SAFE];
        if self.of_role(Role::Detector).next().is_some() {
            capabilities.push(CAP_DETECT_V1);
        }
        if self.of_role(Role::Recognizer).next().is_some() {
            capabilities.push(CAP_EMBED_V1);
        }
        PluginInfo {
            name: self.name.into(),
            version: self.version.into(),
            detectors: kinds(Role::Detector),
            recognizers: kinds(Role::Recognizer),
            capabilities: capabilities.into_iter().map(RString::from).collect(),
        }
    }

    /// The kind `name` of `role`, or an [`ErrorCode::UNKNOWN_KIND`] error listing the
    /// kinds there are.
    pub fn kind(&self, role: Role, name: &str) -> Result<&Kind, PluginError> {
        self.of_role(role).find(|k| k.name == name).ok_or_else(|| {
            let known: Vec<_> = self
                .of_role(role)
                .map(|k| format!("\"{}\"", k.name))
                .collect();
            PluginError::new(
                ErrorCode::UNKNOWN_KIND,
                format!(
                    "the {} plugin has no {} kind `{name}`",
                    self.name,
                    role.name()
                ),
                if known.is_empty() {
                    format!("this plugin has no {}s", role.name())
                } else {
                    format!("use kind = {}", known.join(" or "))
                },
            )
        })
    }

    /// Creates the detector `args.kind`, behind the panic guard.
    pub fn new_detector(&self, args: &CreateArgs<'_>) -> RResult<DetectorBox, PluginError> {
        guard("detector creation", || {
            match self.kind(Role::Detector, args.kind.as_str())?.new {
                Constructor::Detector(new) => new(args),
                Constructor::Recognizer(_) => unreachable!("kind() filters by role"),
            }
        })
    }

    /// Creates the recognizer `args.kind`, behind the panic guard.
    pub fn new_recognizer(&self, args: &CreateArgs<'_>) -> RResult<RecognizerBox, PluginError> {
        guard("recognizer creation", || {
            match self.kind(Role::Recognizer, args.kind.as_str())?.new {
                Constructor::Recognizer(new) => new(args),
                Constructor::Detector(_) => unreachable!("kind() filters by role"),
            }
        })
    }

    /// Checks the options of `args.kind` (a detector or recognizer kind) without loading
    /// a model, behind the panic guard.
    pub fn check_options(&self, args: &CreateArgs<'_>) -> RResult<(), PluginError> {
        guard("options check", || {
            let name = args.kind.as_str();
            let kind = self.kinds.iter().find(|k| k.name == name).ok_or_else(|| {
                PluginError::new(
                    ErrorCode::UNKNOWN_KIND,
                    format!("the {} plugin has no kind `{name}`", self.name),
                    "`facelab plugins` lists the kinds of each plugin",
                )
            })?;
            (kind.check_options)(args.options_toml.as_str())
        })
    }
}

/// Exports a [`Plugin`] static as the plugin's root module: `plugin_info`,
/// `new_detector`, `new_recognizer` and `check_options` all come from its kind table.
/// The crate must depend on `abi_stable`.
#[macro_export]
macro_rules! export_plugin {
    ($plugin:ident) => {
        /// The export, in its own module: the macro adds an undocumented static.
        #[allow(missing_docs)]
        mod export {
            use ::abi_stable::prefix_type::PrefixTypeTrait;
            use ::abi_stable::std_types::RResult;
            use $crate::api::{
                CreateArgs, DetectorBox, PluginError, PluginInfo, PluginModule, PluginModule_Ref,
                RecognizerBox,
            };

            extern "C" fn plugin_info() -> PluginInfo {
                super::$plugin.info()
            }
            extern "C" fn new_detector(args: &CreateArgs<'_>) -> RResult<DetectorBox, PluginError> {
                super::$plugin.new_detector(args)
            }
            extern "C" fn new_recognizer(
                args: &CreateArgs<'_>,
            ) -> RResult<RecognizerBox, PluginError> {
                super::$plugin.new_recognizer(args)
            }
            extern "C" fn check_options(args: &CreateArgs<'_>) -> RResult<(), PluginError> {
                super::$plugin.check_options(args)
            }

            /// The plugin's root module, found by the host through `abi_stable`; in-process
            /// tests call it directly.
            #[::abi_stable::export_root_module]
            pub fn root_module() -> PluginModule_Ref {
                PluginModule {
                    plugin_info,
                    new_detector,
                    new_recognizer,
                    check_options,
                }
                .leak_into_prefix()
            }
        }
        pub use export::root_module;
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use abi_stable::std_types::{RSlice, RVec};
    use facelab_plugin_api::{Face, ImageView, ModelInfo};

    struct Nothing;
    impl Detector for Nothing {
        fn info(&self) -> ModelInfo {
            ModelInfo {
                id: "nothing".into(),
                backend: "test".into(),
                licence: facelab_plugin_api::LicenceClass::Permissive,
                input_width: 0,
                input_height: 0,
                embedding: None.into(),
            }
        }
        fn detect(&mut self, _: ImageView<'_>) -> RResult<RVec<Face>, PluginError> {
            RResult::ROk(RVec::new())
        }
    }

    fn no_options(text: &str) -> Result<(), PluginError> {
        if text.is_empty() {
            Ok(())
        } else {
            Err(PluginError::new(
                ErrorCode::INVALID_CONFIG,
                text.to_owned(),
                "",
            ))
        }
    }

    static PLUGIN: Plugin = Plugin {
        name: "t",
        version: "1",
        kinds: &[
            Kind {
                name: "a",
                help: "finds nothing",
                new: Constructor::Detector(|_| Ok(detector_box(Nothing))),
                check_options: no_options,
            },
            Kind {
                name: "loaded",
                help: "nothing, through load_detector",
                new: Constructor::Detector(|args| {
                    load_detector(
                        args,
                        |a| no_options(a.options_toml.as_str()),
                        |_, ()| Ok(Nothing),
                    )
                }),
                check_options: no_options,
            },
            Kind {
                name: "b",
                help: "also nothing",
                new: Constructor::Detector(|_| panic!("b is broken")),
                check_options: no_options,
            },
        ],
    };

    fn args<'a>(kind: &'a str, options: &'a str) -> CreateArgs<'a> {
        CreateArgs {
            kind: kind.into(),
            model_id: "".into(),
            model_files: RSlice::from_slice(&[]),
            options_toml: options.into(),
        }
    }

    fn err<T>(r: RResult<T, PluginError>) -> PluginError {
        r.into_result().err().expect("an error")
    }

    #[test]
    fn the_table_drives_info_dispatch_and_help() {
        let info = PLUGIN.info();
        let names: Vec<_> = info.detectors.iter().map(|k| k.name.as_str()).collect();
        assert_eq!(names, ["a", "loaded", "b"]);
        assert_eq!(info.detectors[0].description.as_str(), "finds nothing");
        assert!(info.recognizers.is_empty());
        let caps: Vec<_> = info.capabilities.iter().map(|c| c.as_str()).collect();
        assert!(caps.contains(&CAP_DETECT_V1) && !caps.contains(&CAP_EMBED_V1));

        let d = PLUGIN.new_detector(&args("a", "")).unwrap();
        assert_eq!(d.info().id.as_str(), "nothing");
        let e = err(PLUGIN.new_detector(&args("c", "")));
        assert_eq!(e.code, ErrorCode::UNKNOWN_KIND);
        assert_eq!(e.help.as_str(), "use kind = \"a\" or \"loaded\" or \"b\"");
        let d = PLUGIN.new_detector(&args("loaded", "")).unwrap();
        assert_eq!(d.info().id.as_str(), "nothing");
        let e = err(PLUGIN.new_detector(&args("loaded", "x = 1")));
        assert_eq!(
            e.code,
            ErrorCode::INVALID_CONFIG,
            "options are parsed first: {e}"
        );
        let e = err(PLUGIN.new_recognizer(&args("a", "")));
        assert_eq!(e.code, ErrorCode::UNKNOWN_KIND, "a is a detector: {e}");
        assert_eq!(e.help.as_str(), "this plugin has no recognizers");
        let e = err(PLUGIN.new_detector(&args("b", "")));
        assert_eq!(e.code, ErrorCode::PANIC, "{e}");
    }

    #[test]
    fn check_options_runs_the_kinds_check() {
        assert!(PLUGIN.check_options(&args("a", "")).is_ok());
        let e = PLUGIN.check_options(&args("a", "x = 1")).unwrap_err();
        assert_eq!(e.code, ErrorCode::INVALID_CONFIG);
        let e = PLUGIN.check_options(&args("zz", "")).unwrap_err();
        assert_eq!(e.code, ErrorCode::UNKNOWN_KIND);
    }
}
