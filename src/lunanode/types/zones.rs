//! Hosted DNS zones and records, in both API forms: the older `dns/zone-*`/`dns/record-*` and
//! the newer `dns2/zone-*`/`dns2/record-*`.
//!
//! Shapes read (the reference knows only that the older `zones` is an object keyed by zone ID):
//! `zones` and `records` as arrays or maps keyed by ID; a zone's ID as `id` or `zone_id` (else
//! its key) and its name as `name` or `origin`; a record's ID as `id` or `record_id` (else its
//! key), its type as `type`, its value as `data` (or `content`/`value`). Creates return
//! `zone_id`/`record_id` (or `id`) when the answer has one.

use serde_json::Value;

use super::{field, picked_list};
use crate::lunanode::{Client, Error};

picked_struct! {
    /// A hosted zone.
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    pub struct DnsZone {
        /// Zone ID (`id` or `zone_id`, else the key it was listed under).
        id: String = ["id", "zone_id"],
        /// The origin, e.g. `example.com.` (`name` in the newer form).
        name: String = ["name", "origin"],
        /// Default TTL, when sent.
        ttl: Option<u32> = ["ttl", "default_ttl"],
    }
}

picked_struct! {
    /// A record of a hosted zone.
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    pub struct DnsRecord {
        /// Record ID (`id` or `record_id`, else the key it was listed under).
        id: String = ["id", "record_id"],
        /// The zone's ID, when sent.
        zone_id: String = ["zone_id"],
        /// Name relative to the zone (`www`, `@`) or absolute, as the server writes it.
        name: String = ["name"],
        /// `A`, `AAAA`, `CNAME`, `MX`, `TXT`, ...
        record_type: String = ["type", "record_type"],
        /// The value, e.g. `1.2.3.4`.
        data: String = ["data", "content", "value"],
        /// TTL, when sent.
        ttl: Option<u32> = ["ttl"],
        /// MX/SRV priority (`aux` or `priority`), when sent.
        aux: Option<u32> = ["aux", "priority"],
    }
}

keyed_by_id!(DnsZone, DnsRecord);

/// The parameters of a record add (either form).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DnsRecordAdd {
    /// The zone.
    pub zone_id: String,
    /// Name, e.g. `www`.
    pub name: String,
    /// Record type, e.g. `A`.
    pub record_type: String,
    /// Value, e.g. `1.2.3.4`.
    pub data: String,
    /// TTL in seconds.
    pub ttl: u32,
    /// Further `dns2/record-add` parameters (`policy`, `weight`, `region`, `aux`, ...), checked
    /// against nothing but sent as given; ignored by the older form.
    pub extra: Vec<(String, String)>,
}

/// The zones of a `zone-list` answer (either form).
pub fn zones_from_response(response: &Value) -> Vec<DnsZone> {
    picked_list(field(response, &["zones"]).clone())
}

/// The records of a `record-list` answer (either form).
pub fn records_from_response(response: &Value) -> Vec<DnsRecord> {
    picked_list(field(response, &["records"]).clone())
}

impl Client {
    async fn zone_list_in(&self, category: &str) -> Result<Vec<DnsZone>, Error> {
        let response = self.request(category, "zone-list", &[]).await?;
        Ok(zones_from_response(&response))
    }

    /// `zone-add` in either form; the zone's name goes under the form's own parameter.
    async fn zone_add_in(
        &self,
        category: &str,
        name: (&str, &str),
        ttl: Option<u32>,
    ) -> Result<Option<String>, Error> {
        let ttl = ttl.map(|ttl| ttl.to_string()).unwrap_or_default();
        let parameters = [name, ("ttl", ttl.as_str())];
        self.create(category, "zone-add", &parameters, &["zone_id", "id"])
            .await
    }

    async fn record_list_in(&self, category: &str, zone_id: &str) -> Result<Vec<DnsRecord>, Error> {
        let response = self
            .request(category, "record-list", &[("zone_id", zone_id)])
            .await?;
        let mut records = records_from_response(&response);
        for record in records
            .iter_mut()
            .filter(|record| record.zone_id.is_empty())
        {
            record.zone_id = zone_id.to_owned();
        }
        Ok(records)
    }

    async fn record_add_in(
        &self,
        category: &str,
        record: &DnsRecordAdd,
        extra: bool,
    ) -> Result<Option<String>, Error> {
        let ttl = record.ttl.to_string();
        let mut parameters = vec![
            ("zone_id", record.zone_id.as_str()),
            ("name", record.name.as_str()),
            ("type", record.record_type.as_str()),
            ("data", record.data.as_str()),
            ("ttl", ttl.as_str()),
        ];
        if extra {
            parameters.extend(
                record
                    .extra
                    .iter()
                    .map(|(name, value)| (name.as_str(), value.as_str())),
            );
        }
        self.create(category, "record-add", &parameters, &["record_id", "id"])
            .await
    }
}

/// Declares [`Client`] methods that pass their arguments on to another method of the client,
/// one a line: `method(arguments) -> answer = other(arguments passed)`.
macro_rules! forwarding_methods {
    ($(
        $(#[$attr:meta])*
        $method:ident($($argument:ident: $ty:ty),*) -> $answer:ty = $target:ident($($pass:expr),*);
    )*) => {
        impl Client {
            $(
                $(#[$attr])*
                pub async fn $method(&self, $($argument: $ty),*) -> Result<$answer, Error> {
                    self.$target($($pass),*).await
                }
            )*
        }
    };
}

forwarding_methods! {
    /// `dns/zone-list` (older form; an object keyed by zone ID on the wire).
    dns_zone_list() -> Vec<DnsZone> = zone_list_in("dns");

    /// `dns/zone-add`: `origin` such as `example.com.`; returns `zone_id` when the answer has one
    /// (otherwise find the zone by name in the zone list).
    dns_zone_add(origin: &str, ttl: Option<u32>) -> Option<String>
        = zone_add_in("dns", ("origin", origin), ttl);

    /// `dns/record-list`.
    dns_record_list(zone_id: &str) -> Vec<DnsRecord> = record_list_in("dns", zone_id);

    /// `dns/record-add` (the `extra` parameters are not sent in this form).
    dns_record_add(record: &DnsRecordAdd) -> Option<String> = record_add_in("dns", record, false);

    /// `dns2/zone-list`.
    dns2_zone_list() -> Vec<DnsZone> = zone_list_in("dns2");

    /// `dns2/zone-add`: `name` such as `example.com`; returns `zone_id` when the answer has one.
    dns2_zone_add(name: &str, ttl: Option<u32>) -> Option<String>
        = zone_add_in("dns2", ("name", name), ttl);

    /// `dns2/record-list`.
    dns2_record_list(zone_id: &str) -> Vec<DnsRecord> = record_list_in("dns2", zone_id);

    /// `dns2/record-add`, with the `extra` parameters.
    dns2_record_add(record: &DnsRecordAdd) -> Option<String> = record_add_in("dns2", record, true);
}

plain_actions! {
    /// `dns/record-remove` (the older form needs only the record ID; the zone is sent when given).
    dns_record_remove = "dns"/"record-remove"(zone_id: Option<&str>, record_id);

    /// `dns/zone-remove`.
    dns_zone_remove = "dns"/"zone-remove"(zone_id);

    /// `dns2/zone-remove`.
    dns2_zone_remove = "dns2"/"zone-remove"(zone_id);

    /// `dns2/record-remove`.
    dns2_record_remove = "dns2"/"record-remove"(zone_id, record_id);
}
