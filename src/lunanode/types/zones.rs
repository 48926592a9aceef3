//! Hosted DNS zones and records, in both API forms: the older `dns/zone-*`/`dns/record-*` and
//! the newer `dns2/zone-*`/`dns2/record-*`.
//!
//! Shapes read (the reference knows only that the older `zones` is an object keyed by zone ID):
//! `zones` and `records` as arrays or maps keyed by ID; a zone's ID as `id` or `zone_id` (else
//! its key) and its name as `name` or `origin`; a record's ID as `id` or `record_id` (else its
//! key), its type as `type`, its value as `data` (or `content`/`value`). Creates return
//! `zone_id`/`record_id` (or `id`) when the answer has one.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::field;
use crate::lunanode::{
    Client, Error,
    decode::{entries, pick, pick_number},
};

/// A hosted zone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DnsZone {
    /// Zone ID.
    pub id: String,
    /// The origin, e.g. `example.com.` (`name` in the newer form).
    pub name: String,
    /// Default TTL, when sent.
    pub ttl: Option<u32>,
}

/// A record of a hosted zone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DnsRecord {
    /// Record ID.
    pub id: String,
    /// The zone's ID, when sent.
    pub zone_id: String,
    /// Name relative to the zone (`www`, `@`) or absolute, as the server writes it.
    pub name: String,
    /// `A`, `AAAA`, `CNAME`, `MX`, `TXT`, ...
    pub record_type: String,
    /// The value, e.g. `1.2.3.4`.
    pub data: String,
    /// TTL, when sent.
    pub ttl: Option<u32>,
    /// MX/SRV priority (`aux` or `priority`), when sent.
    pub aux: Option<u32>,
}

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

fn zone_from(key: Option<String>, value: &Value) -> Option<DnsZone> {
    let map = value.as_object()?;
    let mut id = pick(map, &["id", "zone_id"]);
    if id.is_empty() {
        id = key.unwrap_or_default();
    }
    Some(DnsZone {
        id,
        name: pick(map, &["name", "origin"]),
        ttl: pick_number(map, &["ttl", "default_ttl"]),
    })
}

fn record_from(key: Option<String>, value: &Value) -> Option<DnsRecord> {
    let map = value.as_object()?;
    let mut id = pick(map, &["id", "record_id"]);
    if id.is_empty() {
        id = key.unwrap_or_default();
    }
    Some(DnsRecord {
        id,
        zone_id: pick(map, &["zone_id"]),
        name: pick(map, &["name"]),
        record_type: pick(map, &["type", "record_type"]),
        data: pick(map, &["data", "content", "value"]),
        ttl: pick_number(map, &["ttl"]),
        aux: pick_number(map, &["aux", "priority"]),
    })
}

impl<'de> Deserialize<'de> for DnsZone {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(zone_from(None, &Value::deserialize(deserializer)?).unwrap_or_default())
    }
}

impl<'de> Deserialize<'de> for DnsRecord {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(record_from(None, &Value::deserialize(deserializer)?).unwrap_or_default())
    }
}

/// The zones of a `zone-list` answer (either form).
pub fn zones_from_response(response: &Value) -> Vec<DnsZone> {
    entries(field(response, &["zones"]).clone())
        .into_iter()
        .filter_map(|(key, value)| zone_from(key, &value))
        .collect()
}

/// The records of a `record-list` answer (either form).
pub fn records_from_response(response: &Value) -> Vec<DnsRecord> {
    entries(field(response, &["records"]).clone())
        .into_iter()
        .filter_map(|(key, value)| record_from(key, &value))
        .collect()
}

impl Client {
    async fn zone_list_in(&self, category: &str) -> Result<Vec<DnsZone>, Error> {
        let response = self.request(category, "zone-list", &[]).await?;
        Ok(zones_from_response(&response))
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
        self.create_maybe_id(category, "record-add", &parameters, &["record_id", "id"])
            .await
    }

    /// `dns/zone-list` (older form; an object keyed by zone ID on the wire).
    pub async fn dns_zone_list(&self) -> Result<Vec<DnsZone>, Error> {
        self.zone_list_in("dns").await
    }

    /// `dns/zone-add`: `origin` such as `example.com.`; returns `zone_id` when the answer has one
    /// (otherwise find the zone by name in the zone list).
    pub async fn dns_zone_add(
        &self,
        origin: &str,
        ttl: Option<u32>,
    ) -> Result<Option<String>, Error> {
        let ttl = ttl.map(|ttl| ttl.to_string()).unwrap_or_default();
        self.create_maybe_id(
            "dns",
            "zone-add",
            &[("origin", origin), ("ttl", &ttl)],
            &["zone_id", "id"],
        )
        .await
    }

    /// `dns/zone-remove`.
    pub async fn dns_zone_remove(&self, zone_id: &str) -> Result<(), Error> {
        self.call("dns", "zone-remove", &[("zone_id", zone_id)])
            .await
    }

    /// `dns/record-list`.
    pub async fn dns_record_list(&self, zone_id: &str) -> Result<Vec<DnsRecord>, Error> {
        self.record_list_in("dns", zone_id).await
    }

    /// `dns/record-add` (the `extra` parameters are not sent in this form).
    pub async fn dns_record_add(&self, record: &DnsRecordAdd) -> Result<Option<String>, Error> {
        self.record_add_in("dns", record, false).await
    }

    /// `dns/record-remove` (the older form needs only the record ID; the zone is sent when given).
    pub async fn dns_record_remove(
        &self,
        zone_id: Option<&str>,
        record_id: &str,
    ) -> Result<(), Error> {
        let parameters = [
            ("zone_id", zone_id.unwrap_or_default()),
            ("record_id", record_id),
        ];
        self.call("dns", "record-remove", &parameters).await
    }

    /// `dns2/zone-list`.
    pub async fn dns2_zone_list(&self) -> Result<Vec<DnsZone>, Error> {
        self.zone_list_in("dns2").await
    }

    /// `dns2/zone-add`: `name` such as `example.com`; returns `zone_id` when the answer has one.
    pub async fn dns2_zone_add(
        &self,
        name: &str,
        ttl: Option<u32>,
    ) -> Result<Option<String>, Error> {
        let ttl = ttl.map(|ttl| ttl.to_string()).unwrap_or_default();
        self.create_maybe_id(
            "dns2",
            "zone-add",
            &[("name", name), ("ttl", &ttl)],
            &["zone_id", "id"],
        )
        .await
    }

    /// `dns2/zone-remove`.
    pub async fn dns2_zone_remove(&self, zone_id: &str) -> Result<(), Error> {
        self.call("dns2", "zone-remove", &[("zone_id", zone_id)])
            .await
    }

    /// `dns2/record-list`.
    pub async fn dns2_record_list(&self, zone_id: &str) -> Result<Vec<DnsRecord>, Error> {
        self.record_list_in("dns2", zone_id).await
    }

    /// `dns2/record-add`, with the `extra` parameters.
    pub async fn dns2_record_add(&self, record: &DnsRecordAdd) -> Result<Option<String>, Error> {
        self.record_add_in("dns2", record, true).await
    }

    /// `dns2/record-remove`.
    pub async fn dns2_record_remove(&self, zone_id: &str, record_id: &str) -> Result<(), Error> {
        self.call(
            "dns2",
            "record-remove",
            &[("zone_id", zone_id), ("record_id", record_id)],
        )
        .await
    }
}
