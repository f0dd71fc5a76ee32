//! The housing roll (房源): units imported from the street office's spreadsheet, owner
//! verification against it, co-owners and changes of owner.

pub mod area;
pub mod co_owner_api;
pub mod demo;
pub mod owner_api;
pub mod service;
pub mod sheet;
pub mod staff_api;
pub mod store;

use poem_openapi::Enum;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Enum)]
#[oai(rename_all = "snake_case")]
pub enum UnitKind {
    /// 住宅
    Residential,
    /// 商业
    Commercial,
    /// 车位
    Parking,
    /// 储藏室
    Storage,
}

impl UnitKind {
    pub fn as_str(self) -> &'static str {
        match self {
            UnitKind::Residential => "residential",
            UnitKind::Commercial => "commercial",
            UnitKind::Parking => "parking",
            UnitKind::Storage => "storage",
        }
    }

    pub const ALL: [UnitKind; 4] = [
        UnitKind::Residential,
        UnitKind::Commercial,
        UnitKind::Parking,
        UnitKind::Storage,
    ];

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The label used in the spreadsheet.
    pub fn label(self) -> &'static str {
        match self {
            UnitKind::Residential => "住宅",
            UnitKind::Commercial => "商业",
            UnitKind::Parking => "车位",
            UnitKind::Storage => "储藏室",
        }
    }

    pub fn from_label(s: &str) -> Option<Self> {
        match s.trim() {
            "住宅" => Some(UnitKind::Residential),
            "商业" | "商铺" => Some(UnitKind::Commercial),
            "车位" => Some(UnitKind::Parking),
            "储藏室" | "储物间" => Some(UnitKind::Storage),
            _ => None,
        }
    }
}
