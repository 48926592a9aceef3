//! LunaDnsZone: the zone lists and their conversion, and the record calls of one zone.

use futures::FutureExt;

use crate::{
    api::dnszone::{DnsApi, canonical_origin},
    lunanode::{
        self,
        types::{DnsRecord, DnsRecordAdd, DnsZone},
    },
};

use super::decide::Wanted;

/// A zone as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedZone {
    /// Zone ID.
    pub id: String,
    /// Its origin in canonical form (`example.com.`).
    pub origin: String,
    /// Its default TTL, when listed.
    pub ttl: Option<u32>,
}

type ZoneList =
    futures::future::BoxFuture<'static, Result<Vec<(String, ObservedZone)>, lunanode::Error>>;

fn zones(list: Vec<DnsZone>) -> Vec<(String, ObservedZone)> {
    list.into_iter()
        .map(|zone| {
            (
                zone.id.clone(),
                ObservedZone {
                    id: zone.id,
                    origin: canonical_origin(&zone.name),
                    ttl: zone.ttl,
                },
            )
        })
        .collect()
}

pub(super) fn list_dns2(client: lunanode::Client, _key: String) -> ZoneList {
    async move { Ok(zones(client.dns2_zone_list().await?)) }.boxed()
}

pub(super) fn list_dns(client: lunanode::Client, _key: String) -> ZoneList {
    async move { Ok(zones(client.dns_zone_list().await?)) }.boxed()
}

/// The zone and record calls of one zone, in the API form the spec chose.
pub(super) struct ZoneCalls<'a> {
    pub(super) client: &'a lunanode::Client,
    pub(super) api: DnsApi,
    pub(super) zone: &'a str,
}

impl ZoneCalls<'_> {
    pub(super) async fn list(&self) -> Result<Vec<DnsRecord>, lunanode::Error> {
        match self.api {
            DnsApi::Dns2 => self.client.dns2_record_list(self.zone).await,
            DnsApi::Dns => self.client.dns_record_list(self.zone).await,
        }
    }

    pub(super) async fn add(&self, record: &Wanted) -> Result<Option<String>, lunanode::Error> {
        let add = DnsRecordAdd {
            zone_id: self.zone.to_owned(),
            name: record.name.clone(),
            record_type: record.record_type.clone(),
            data: record.data.clone(),
            ttl: record.ttl,
            extra: Vec::new(),
        };
        match self.api {
            DnsApi::Dns2 => self.client.dns2_record_add(&add).await,
            DnsApi::Dns => self.client.dns_record_add(&add).await,
        }
    }

    pub(super) async fn remove(&self, record_id: &str) -> Result<(), lunanode::Error> {
        let removed = match self.api {
            DnsApi::Dns2 => self.client.dns2_record_remove(self.zone, record_id).await,
            DnsApi::Dns => {
                self.client
                    .dns_record_remove(Some(self.zone), record_id)
                    .await
            }
        };
        match removed {
            Err(error) if error.is_not_found() => Ok(()),
            other => other,
        }
    }
}
