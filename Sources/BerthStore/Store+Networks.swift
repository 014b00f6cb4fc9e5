import BerthSystem
import Foundation
import GRDB

extension Store {
    // MARK: networks

    public func insertNetwork(_ n: NetworkRecord) throws {
        do { try pool.write { db in try n.insert(db) } }
        catch let e as DatabaseError where e.extendedResultCode == .SQLITE_CONSTRAINT_UNIQUE || e.extendedResultCode == .SQLITE_CONSTRAINT_PRIMARYKEY {
            throw BerthError.conflict("network with name \(n.name) already exists")
        } catch { throw BerthError.system("store: \(error)") }
    }
    public func network(_ id: String) throws -> NetworkRecord? { try rd { try NetworkRecord.fetchOne($0, key: id) } }
    public func network(named name: String) throws -> NetworkRecord? {
        try rd { try NetworkRecord.filter(Column("name") == name).fetchOne($0) }
    }
    public func networkIDs(prefix: String) throws -> [String] {
        try rd { try String.fetchAll($0, sql: "SELECT id FROM networks WHERE id LIKE ? LIMIT 2", arguments: [prefix + "%"]) }
    }
    public func allNetworks() throws -> [NetworkRecord] { try rd { try NetworkRecord.order(Column("created")).fetchAll($0) } }

    /// Deletes a network that no container is attached to (a conflict otherwise).
    public func deleteNetwork(_ id: String, inUse: @escaping @Sendable (Int) -> BerthError) throws {
        try wr { db in
            let n = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM endpoints WHERE network_id = ?", arguments: [id]) ?? 0
            if n > 0 { throw inUse(n) }
            try db.execute(sql: "DELETE FROM networks WHERE id = ?", arguments: [id])
        }
    }

    // MARK: endpoints

    public func endpoints(container: String) throws -> [EndpointRecord] {
        try rd { try EndpointRecord.filter(Column("container_id") == container).order(Column("position")).fetchAll($0) }
    }
    public func endpoints(network: String) throws -> [EndpointRecord] {
        try rd { try EndpointRecord.filter(Column("network_id") == network).fetchAll($0) }
    }
    public func allEndpoints() throws -> [EndpointRecord] { try rd { try EndpointRecord.fetchAll($0) } }

    /// Adds an endpoint after the container's others (a conflict if it is there already).
    public func insertEndpoint(_ e: EndpointRecord) throws {
        try wr { db in
            if try EndpointRecord.fetchOne(db, key: ["container_id": e.container_id, "network_id": e.network_id]) != nil {
                throw BerthError.conflict("endpoint exists")
            }
            var r = e
            r.position = (try Int64.fetchOne(db, sql: "SELECT MAX(position) FROM endpoints WHERE container_id = ?",
                                             arguments: [e.container_id]) ?? -1) + 1
            try r.insert(db)
        }
    }
    public func deleteEndpoint(container: String, network: String) throws {
        try wr { db in
            try db.execute(sql: "DELETE FROM endpoints WHERE container_id = ? AND network_id = ?", arguments: [container, network])
        }
    }

    /// Picks the endpoint's address and writes it in one transaction: `pick` sees every address
    /// taken on the network and returns (ip, mac, endpoint id).
    @discardableResult
    public func assignAddress(container: String, network: String,
                              pick: (_ used: Set<String>, _ used6: Set<String>) throws -> (ip: String, ip6: String, mac: String, endpointID: String)) throws -> EndpointRecord {
        try wr { db in
            guard var e = try EndpointRecord.fetchOne(db, key: ["container_id": container, "network_id": network]) else {
                throw BerthError.notFound("container \(container) is not connected to network \(network)")
            }
            if !e.ip.isEmpty { return e }
            let used = Set(try String.fetchAll(db, sql: "SELECT ip FROM endpoints WHERE network_id = ? AND ip <> ''", arguments: [network]))
            let used6 = Set(try String.fetchAll(db, sql: "SELECT ip6 FROM endpoints WHERE network_id = ? AND ip6 <> ''", arguments: [network]))
            let (ip, ip6, mac, eid) = try pick(used, used6)
            e.ip = ip; e.ip6 = ip6; e.mac = mac; e.endpoint_id = eid
            try e.update(db)
            return e
        }
    }

    /// Gives back the addresses of a container's endpoints (all of them, or one network's).
    public func releaseAddresses(container: String, network: String? = nil) throws {
        try wr { db in
            if let network {
                try db.execute(sql: "UPDATE endpoints SET ip = '', ip6 = '', mac = '', endpoint_id = '' WHERE container_id = ? AND network_id = ?",
                               arguments: [container, network])
            } else {
                try db.execute(sql: "UPDATE endpoints SET ip = '', ip6 = '', mac = '', endpoint_id = '' WHERE container_id = ?", arguments: [container])
            }
        }
    }
}

extension Store {
    public func updateNetwork(_ n: NetworkRecord) throws { try wr { db in try n.update(db) } }
}
