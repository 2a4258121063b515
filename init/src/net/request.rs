//! Requests from the UIs to change the network while the system runs: the terminal UI's
//! network screen and a job file's `net` key. Init owns every address and route, so the UIs
//! never configure anything themselves; they write a request file into the state directory
//! and read the outcome back from net.json.
//!
//! The file is `net-request` ([`wraith_live::paths::NET_REQUEST`]); its format and parser
//! are the one definition in [`wraith_live::state::NetRequest`], shared with the UI that
//! writes it.
//!
//! This module is pure: turning a request into what each interface should run ([`plan`]);
//! the manager in `mod.rs` does the switching.

use super::config::{NetMode, StaticConfig};

/// What one interface should run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Want {
    Dhcp,
    Static(StaticConfig),
    Off,
}

/// Which interfaces change, and to what, for `mode` given the interfaces there are (name,
/// link). Interfaces not listed keep what they run. `dhcp` and `off` without `if=` mean
/// every interface; `static` without `if=` means the first with a link, else the first one
/// (the cable may come later), as at boot.
pub fn plan(mode: &NetMode, ifaces: &[(&str, bool)]) -> Result<Vec<(String, Want)>, String> {
    let named = |n: &str| -> Result<String, String> {
        ifaces
            .iter()
            .find(|(i, _)| *i == n)
            .map(|(i, _)| i.to_string())
            .ok_or_else(|| {
                let there: Vec<&str> = ifaces.iter().map(|(i, _)| *i).collect();
                format!(
                    "there is no interface {n} (there {}: {})",
                    if there.len() == 1 { "is" } else { "are" },
                    if there.is_empty() {
                        "none".into()
                    } else {
                        there.join(", ")
                    }
                )
            })
    };
    if ifaces.is_empty() {
        return Err("this machine has no Ethernet interface".into());
    }
    Ok(match mode {
        NetMode::Off => ifaces
            .iter()
            .map(|(i, _)| (i.to_string(), Want::Off))
            .collect(),
        NetMode::Dhcp { iface: None } => ifaces
            .iter()
            .map(|(i, _)| (i.to_string(), Want::Dhcp))
            .collect(),
        NetMode::Dhcp { iface: Some(n) } => vec![(named(n)?, Want::Dhcp)],
        NetMode::Static(cfg) => {
            let name = match &cfg.iface {
                Some(n) => named(n)?,
                None => ifaces
                    .iter()
                    .find(|(_, link)| *link)
                    .or(ifaces.first())
                    .map(|(i, _)| i.to_string())
                    .unwrap_or_default(),
            };
            vec![(name, Want::Static(cfg.clone()))]
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;
    use wraith_live::state::NetRequest;

    #[test]
    fn a_static_request_becomes_that_interfaces_configuration() {
        let r = NetRequest::parse(
            "id=tui-42\nnet=static:192.168.1.50/24,gw=192.168.1.1,dns=192.168.1.1,dns=9.9.9.9,if=eth1\n",
        )
        .unwrap();
        assert_eq!(r.id, "tui-42");
        let want = StaticConfig {
            address: Ipv4Addr::new(192, 168, 1, 50),
            prefix: 24,
            gateway: Some(Ipv4Addr::new(192, 168, 1, 1)),
            dns: vec![Ipv4Addr::new(192, 168, 1, 1), Ipv4Addr::new(9, 9, 9, 9)],
            search: vec![],
            iface: Some("eth1".into()),
        };
        assert_eq!(r.mode, NetMode::Static(want.clone()));
        let ifaces = [("eth0", true), ("eth1", false)];
        assert_eq!(
            plan(&r.mode, &ifaces),
            Ok(vec![("eth1".into(), Want::Static(want))])
        );
    }

    #[test]
    fn dhcp_for_one_interface_leaves_the_others_alone() {
        let r = NetRequest::parse("net=dhcp,if=eth0").unwrap();
        assert_eq!(r.id, "");
        let ifaces = [("eth0", true), ("eth1", true)];
        assert_eq!(
            plan(&r.mode, &ifaces),
            Ok(vec![("eth0".into(), Want::Dhcp)])
        );
        let all = plan(&NetMode::Dhcp { iface: None }, &ifaces).unwrap();
        assert_eq!(all.len(), 2);
        let off = plan(&NetMode::Off, &ifaces).unwrap();
        assert!(off.iter().all(|(_, w)| *w == Want::Off));
    }

    #[test]
    fn static_without_an_interface_goes_to_the_first_with_a_link() {
        let m = NetMode::parse("static:10.0.2.50/24").unwrap();
        let got = plan(&m, &[("eth0", false), ("eth1", true)]).unwrap();
        assert_eq!(got[0].0, "eth1");
        let got = plan(&m, &[("eth0", false), ("eth1", false)]).unwrap();
        assert_eq!(got[0].0, "eth0");
    }

    #[test]
    fn a_request_for_an_interface_that_is_not_there_is_refused_naming_those_that_are() {
        let m = NetMode::parse("dhcp,if=wlan0").unwrap();
        let e = plan(&m, &[("eth0", true)]).unwrap_err();
        assert!(
            e.contains("no interface wlan0") && e.contains("eth0"),
            "{e}"
        );
        assert!(plan(&NetMode::default(), &[]).is_err());
    }
}
