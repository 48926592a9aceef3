//! Load balancers: `lb/list`, `create`, `info`, `delete`, `member_add`, `member_remove`,
//! `associate`.
//!
//! Only `lb/list` has a known answer (`lb`, a singular key, holding `{region, id, name}`
//! entries). For the rest this module reads what the simulator sends and tolerates the likely
//! alternatives: IDs as `id` or `lb_id`/`member_id`, the details wrapped in `info` (or `lb`) or
//! flat, members inside the details or next to them, arrays or maps keyed by ID.

use serde_json::Value;

use super::{field, picked_list, unwrap_object};
use crate::lunanode::{
    Client, Error,
    decode::{PickedStruct, entries},
};

/// The parameters of `lb/create`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LbCreate {
    /// Region slug.
    pub region: String,
    /// The virtual network the balancer lives in.
    pub net_id: String,
    /// Name.
    pub name: String,
    /// `ROUND_ROBIN`, `LEAST_CONNECTIONS` or `SOURCE_IP`.
    pub method: String,
    /// `HTTP`, `HTTPS` or `TCP`.
    pub protocol: String,
    /// Connection limit, `-1` for none.
    pub connection_limit: i64,
    /// The port it listens on.
    pub port: u16,
}

picked_struct! {
    /// A load balancer: an `lb/list` entry, or the details of `lb/info`.
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    pub struct LoadBalancer {
        /// Load balancer ID (`id` or `lb_id`).
        id: String = ["id", "lb_id"],
        /// Name.
        name: String = ["name"],
        /// Region slug.
        region: String = ["region"],
        /// Network ID, when sent.
        net_id: String = ["net_id", "network_id"],
        /// Balancing method, when sent.
        method: String = ["method"],
        /// Protocol, when sent.
        protocol: String = ["protocol"],
        /// Listening port, when sent.
        port: Option<u16> = ["port"],
        /// Connection limit, when sent.
        connection_limit: Option<i64> = ["connection_limit"],
        /// The balancer's address (`ip`, `vip` or `address`), when sent.
        ip: String = ["ip", "vip", "address", "vip_address"],
        /// Status, when sent.
        status: String = ["status"],
    }
}

picked_struct! {
    /// A pool member of a load balancer.
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    pub struct LbMember {
        /// Member ID (`member_id` or `id`, else the key it was listed under).
        member_id: String = ["member_id", "id"],
        /// Backend address.
        ip: String = ["ip", "address"],
        /// Backend port.
        port: Option<u16> = ["port", "protocol_port"],
        /// Status, when sent.
        status: String = ["status"],
    }
}

keyed_by_id!(member_id: LbMember);

/// The answer of `lb/info`: the balancer and its members.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LbInfo {
    /// The balancer (its `id` is filled from the request when the answer lacks it).
    pub lb: LoadBalancer,
    /// Its pool members.
    pub members: Vec<LbMember>,
}

impl LbInfo {
    /// Reads an `lb/info` answer (see the module documentation for the shapes accepted).
    pub fn from_response(response: &Value) -> Self {
        let details = unwrap_object(response, &["info", "lb", "details"]);
        let lb = details
            .as_object()
            .map(LoadBalancer::from_map)
            .unwrap_or_default();
        let members = match details.get("members") {
            Some(members) => members.clone(),
            None => field(response, &["members"]).clone(),
        };
        Self {
            lb,
            members: picked_list(members),
        }
    }
}

impl Client {
    /// `lb/list` in `region`, optionally only those on `net_id`.
    pub async fn lb_list(
        &self,
        region: &str,
        net_id: Option<&str>,
    ) -> Result<Vec<LoadBalancer>, Error> {
        let parameters = [("region", region), ("net_id", net_id.unwrap_or_default())];
        let response = self.request("lb", "list", &parameters).await?;
        Ok(
            entries(field(&response, &["lb", "lbs", "load_balancers"]).clone())
                .into_iter()
                .filter_map(|(_, value)| value.as_object().map(LoadBalancer::from_map))
                .collect(),
        )
    }

    /// `lb/create`: returns the new balancer's ID from `lb_id` (or `id`) when the answer has one;
    /// otherwise find it by name in `lb/list`.
    pub async fn lb_create(&self, request: &LbCreate) -> Result<Option<String>, Error> {
        let limit = request.connection_limit.to_string();
        let port = request.port.to_string();
        let parameters = [
            ("region", request.region.as_str()),
            ("net_id", request.net_id.as_str()),
            ("name", request.name.as_str()),
            ("method", request.method.as_str()),
            ("protocol", request.protocol.as_str()),
            ("connection_limit", limit.as_str()),
            ("port", port.as_str()),
        ];
        self.create("lb", "create", &parameters, &["lb_id", "id"])
            .await
    }

    /// `lb/info`.
    pub async fn lb_info(&self, region: &str, lb_id: &str) -> Result<LbInfo, Error> {
        let response = self
            .request("lb", "info", &[("region", region), ("lb_id", lb_id)])
            .await?;
        let mut info = LbInfo::from_response(&response);
        if info.lb.id.is_empty() {
            info.lb.id = lb_id.to_owned();
        }
        Ok(info)
    }

    /// `lb/member_add`: returns the member's ID when the answer has one (`member_id` or `id`);
    /// otherwise find it in `lb/info`.
    pub async fn lb_member_add(
        &self,
        region: &str,
        lb_id: &str,
        ip: &str,
        port: u16,
    ) -> Result<Option<String>, Error> {
        let port = port.to_string();
        let parameters = [
            ("region", region),
            ("lb_id", lb_id),
            ("ip", ip),
            ("port", port.as_str()),
        ];
        self.create("lb", "member_add", &parameters, &["member_id", "id"])
            .await
    }
}

plain_actions! {
    /// `lb/delete`.
    lb_delete = "lb"/"delete"(region, lb_id);

    /// `lb/member_remove`.
    lb_member_remove = "lb"/"member_remove"(region, lb_id, member_id);

    /// `lb/associate`: gives the balancer the floating IP `ip`.
    lb_associate = "lb"/"associate"(region, lb_id, ip);
}
