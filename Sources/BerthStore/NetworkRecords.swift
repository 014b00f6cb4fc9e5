import Foundation
import GRDB

/// A network (`networks`): Berth's bridge networks and the predefined `bridge`, `host`, `none`.
public struct NetworkRecord: Codable, Sendable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "networks"
    public var id: String
    public var name: String
    /// `bridge`, `host` or `null`.
    public var driver: String
    public var created: Int64
    /// The bridge interface on the host ("" for host and none).
    public var bridge: String
    /// `a.b.c.d/len`, its gateway and the range addresses are drawn from ("" = the subnet).
    public var subnet: String
    public var gateway: String
    public var ip_range: String
    public var `internal`: Bool
    public var ipv6: Bool
    public var attachable: Bool
    /// The IPv6 subnet and gateway of a network with IPv6 ("" otherwise).
    public var subnet6: String
    public var gateway6: String
    /// The IPAM section as inspect shows it (JSON).
    public var ipam: Data
    /// Driver options and labels (JSON objects).
    public var options: String
    public var labels: String

    public init(id: String, name: String, driver: String, created: Int64, bridge: String, subnet: String, gateway: String,
                ip_range: String, internal: Bool, ipv6: Bool, attachable: Bool, ipam: Data, options: String, labels: String,
                subnet6: String = "", gateway6: String = "") {
        self.subnet6 = subnet6; self.gateway6 = gateway6
        self.id = id; self.name = name; self.driver = driver; self.created = created; self.bridge = bridge
        self.subnet = subnet; self.gateway = gateway; self.ip_range = ip_range; self.internal = `internal`
        self.ipv6 = ipv6; self.attachable = attachable; self.ipam = ipam; self.options = options; self.labels = labels
    }
}

/// A container's membership of a network (`endpoints`). The address, MAC and endpoint id are
/// set while the container runs (allocated at start, released at exit, as dockerd does); the
/// configuration asked for (aliases, static address, links) stays.
public struct EndpointRecord: Codable, Sendable, FetchableRecord, PersistableRecord {
    public static let databaseTableName = "endpoints"
    public var container_id: String
    public var network_id: String
    /// EndpointSettings as asked for (JSON).
    public var config: Data
    public var endpoint_id: String
    public var ip: String
    public var mac: String
    /// The IPv6 address on a network with IPv6 ("" otherwise).
    public var ip6: String
    /// Order of attachment: the first endpoint is the container's eth0.
    public var position: Int64

    public init(container_id: String, network_id: String, config: Data, position: Int64) {
        self.container_id = container_id; self.network_id = network_id; self.config = config
        endpoint_id = ""; ip = ""; mac = ""; ip6 = ""; self.position = position
    }
}
