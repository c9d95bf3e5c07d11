//! The library's enums as command-line values: clap lists and parses them by the same names
//! their `FromStr` (and so the API and the config) uses.

use clap::builder::PossibleValue;
use clap::ValueEnum;

use crate::keys::Digest;
use crate::share::s3::Style;
use crate::share::{Mode, Protocol};

impl ValueEnum for Protocol {
    fn value_variants<'a>() -> &'a [Self] {
        &Protocol::ALL
    }
    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.name()))
    }
}

impl ValueEnum for Mode {
    fn value_variants<'a>() -> &'a [Self] {
        &Mode::ALL
    }
    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.name()))
    }
}

impl ValueEnum for Digest {
    fn value_variants<'a>() -> &'a [Self] {
        &Digest::ALL
    }
    fn to_possible_value(&self) -> Option<PossibleValue> {
        Some(PossibleValue::new(self.name()))
    }
}

impl ValueEnum for Style {
    fn value_variants<'a>() -> &'a [Self] {
        &Style::ALL
    }
    fn to_possible_value(&self) -> Option<PossibleValue> {
        let help = match self {
            Style::Path => "https://host/<bucket>/<key>",
            Style::Virtual => "https://<bucket>.host/<key>",
        };
        Some(PossibleValue::new(self.name()).help(help))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The command line and the API (`FromStr`) accept exactly the same names.
    fn same_names<T: ValueEnum + std::str::FromStr + PartialEq + std::fmt::Debug>() {
        for v in T::value_variants() {
            let name = v.to_possible_value().unwrap().get_name().to_string();
            assert_eq!(name.parse::<T>().ok().as_ref(), Some(v), "{name}");
            assert!(
                name.to_uppercase().parse::<T>().is_err(),
                "names are exact: {name}"
            );
        }
        assert!("nope".parse::<T>().is_err());
    }

    #[test]
    fn the_command_line_and_the_api_name_each_enum_alike() {
        same_names::<Protocol>();
        same_names::<Mode>();
        same_names::<Digest>();
        same_names::<Style>();
    }
}
