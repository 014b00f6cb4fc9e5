import BerthModels
import Foundation
import GRDB

/// What the embedded resolver answers, read straight from the store (by berthd, and by the
/// resolver process that keeps answering while berthd is away). A container sees the names on
/// the user networks it shares with the other container: names, short ids, aliases, and its
/// own `--link` aliases.
extension Store {
    static let predefinedNetworks = ["bridge", "host", "none"]

    struct NameEntry {
        let containerID: String
        let name: String
        let ip: String
        let ip6: String
        let networkID: String
        let networkName: String
        let settings: EndpointSettings?
    }

    /// The endpoints (with addresses) on every user network the asker has an address on, the
    /// asker's own included.
    func nameEntries(_ db: Database, asker: String) throws -> [NameEntry] {
        try Row.fetchAll(db, sql: """
            SELECT e.container_id, c.name, e.ip, e.network_id, n.name, e.config, e.ip6
            FROM endpoints mine
            JOIN networks n ON n.id = mine.network_id
            JOIN endpoints e ON e.network_id = mine.network_id
            JOIN containers c ON c.id = e.container_id
            WHERE mine.container_id = ? AND mine.ip <> '' AND e.ip <> '' AND n.name NOT IN ('bridge', 'host', 'none')
            """, arguments: [asker]).map { row in
            let config: Data = row[5]
            return NameEntry(containerID: row[0], name: row[1], ip: row[2], ip6: row[6], networkID: row[3], networkName: row[4],
                             settings: try? JSONDecoder().decode(EndpointSettings.self, from: config))
        }
    }

    /// The addresses (IPv4 and IPv6) `name` (lower case, no trailing dot) has for `asker`; empty when none.
    public func resolveName(asker: String, name: String) throws -> [String] {
        try rd { db in
            let entries = try nameEntries(db, asker: asker)
            var out: [String] = []
            func add(_ e: NameEntry) {
                for ip in [e.ip, e.ip6] where !ip.isEmpty && !out.contains(ip) { out.append(ip) }
            }
            for e in entries {
                var names = [e.name.lowercased(), String(e.containerID.prefix(12))]
                names += (e.settings?.Aliases ?? []).map { $0.lowercased() }
                if names.contains(name) { add(e) }
            }
            // `--link target:alias` on a user network: the alias is the asker's alone.
            for mine in entries where mine.containerID == asker {
                for link in mine.settings?.Links ?? [] {
                    let parts = link.split(separator: ":", maxSplits: 1).map(String.init)
                    guard let target = parts.first, (parts.count == 2 ? parts[1] : target).lowercased() == name else { continue }
                    let t = target.hasPrefix("/") ? String(target.dropFirst()) : target
                    for e in entries where e.networkID == mine.networkID && (e.name == t || e.containerID.hasPrefix(t)) { add(e) }
                }
            }
            return out
        }
    }

    /// The name an address has for `asker` (a PTR answer): `container.network`, as dockerd.
    public func reverseName(asker: String, ip: String) throws -> String? {
        try rd { db in
            try nameEntries(db, asker: asker).first { $0.ip == ip || $0.ip6 == ip }.map { $0.name + "." + $0.networkName }
        }
    }
}
