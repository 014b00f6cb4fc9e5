#if canImport(Glibc)
import Glibc
#endif
import BerthModels
import BerthStore
import BerthSystem
import Foundation
import Logging
import Synchronization

/// Docker's `local` volume driver: a directory per volume under `<data-root>/volumes`, rows in
/// the store. A directory is made under a temporary name and renamed into place once its row is
/// written, and a row is deleted before its directory goes, so a crash leaves at most a
/// temporary or orphan directory, which `reconcile` removes (never a row without data).
public final class VolumeService: Sendable {
    let store: Store
    let root: String
    let events: EventService
    let log = Log.logger("volumes")
    /// Docker labels anonymous volumes so a plain prune (API ≥ 1.42) finds them.
    public static let anonymousLabel = "com.docker.volume.anonymous"
    static let validName = try! NSRegularExpression(pattern: "^[a-zA-Z0-9][a-zA-Z0-9_.-]+$")
    /// Each volume's JSON as the list shows it (a volume never changes once made): a list of
    /// many volumes costs copies, not encodings.
    let listCache = Mutex<[String: [UInt8]]>([:])

    init(store: Store, dataRoot: String, events: EventService) throws {
        self.store = store
        root = dataRoot + "/volumes"
        self.events = events
        try FS.mkdirAll(root, mode: 0o701)
    }

    public func mountpoint(_ name: String) -> String { root + "/" + name + "/_data" }

    // MARK: create

    public func create(_ req: VolumeCreateRequest) throws -> Volume {
        let driver = req.Driver ?? ""
        guard driver.isEmpty || driver == "local" else {
            throw BerthError.notFound("error looking up volume plugin \(driver): plugin \"\(driver)\" not found")
        }
        let name = req.Name ?? ""
        if !name.isEmpty { try Self.checkName(name) }
        try Self.checkOptions(req.DriverOpts, name: name)
        let rec = try make(name.isEmpty ? Identifier.random64() : name, labels: req.Labels, options: req.DriverOpts,
                           anonymous: name.isEmpty)
        return view(rec)
    }

    static func checkName(_ name: String) throws {
        guard name.count >= 2 else {
            throw BerthError.invalid("create \(name): volume name is too short, names should be at least two alphanumeric characters")
        }
        guard name.utf8.count <= 255, validName.firstMatch(in: name, range: NSRange(name.startIndex..., in: name)) != nil else {
            throw BerthError.invalid("create \(name): \"\(name)\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path")
        }
    }

    /// The volume `name`, made if it does not exist (an existing one is returned as it is).
    @discardableResult
    func make(_ name: String, labels: [String: String]?, options: [String: String]?, anonymous: Bool) throws -> VolumeRecord {
        if let existing = try store.volume(name) { return existing }
        var labels = labels
        if anonymous { labels = (labels ?? [:]).merging([Self.anonymousLabel: ""]) { a, _ in a } }
        let enc = JSONEncoder()
        enc.outputFormatting = .sortedKeys
        let rec = VolumeRecord(name: name, created: Timestamp.nowNanos(),
                               labels: labels.map { String(decoding: (try? enc.encode($0)) ?? Data(), as: UTF8.self) } ?? "",
                               options: options.map { String(decoding: (try? enc.encode($0)) ?? Data(), as: UTF8.self) } ?? "",
                               anonymous: anonymous)
        let temp = root + "/.tmp-" + name
        FS.removeAll(temp)
        try FS.mkdirAll(temp + "/_data", mode: 0o755)
        let inserted: Bool
        do { inserted = try store.insertVolume(rec) } catch { FS.removeAll(temp); throw error }
        guard inserted else { FS.removeAll(temp); return try store.volume(name) ?? rec }
        guard rename(temp, root + "/" + name) == 0 else {
            let e = Syscall.errnoText()
            try? store.deleteVolume(name) { _ in BerthError.conflict("in use") }
            FS.removeAll(temp)
            throw BerthError.system("create volume \(name): \(e)")
        }
        events.record("volume", "create", id: name, attributes: ["driver": "local"])
        return rec
    }

    // MARK: read

    func view(_ v: VolumeRecord, usage: VolumeUsage? = nil) -> Volume {
        let dec = JSONDecoder()
        return Volume(Name: v.name, Driver: v.driver, Mountpoint: mountpoint(v.name),
                      CreatedAt: Timestamp.rfc3339(nanos: v.created - v.created % 1_000_000_000),
                      Labels: v.labels.isEmpty ? nil : try? dec.decode([String: String].self, from: Data(v.labels.utf8)),
                      Options: v.options.isEmpty ? nil : try? dec.decode([String: String].self, from: Data(v.options.utf8)),
                      UsageData: usage)
    }

    func labels(_ v: VolumeRecord) -> [String: String] {
        (try? JSONDecoder().decode([String: String].self, from: Data(v.labels.utf8))) ?? [:]
    }

    public func inspect(_ name: String) throws -> Volume {
        guard let v = try store.volume(name) else { throw BerthError.notFound("get \(name): no such volume") }
        return view(v)
    }

    /// `GET /volumes` as bytes: `{"Volumes":[…],"Warnings":[]}`, each volume's JSON from the cache.
    public func listJSON(filters: Filters) throws -> [UInt8] {
        let rows = try listed(filters: filters)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var out = Array(#"{"Volumes":["#.utf8)
        out.reserveCapacity(rows.count * 160 + 32)
        try listCache.withLock { cache in
            for (i, v) in rows.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                if let hit = cache[v.name] { out += hit; continue }
                let json = Array(try encoder.encode(view(v)))
                cache[v.name] = json
                out += json
            }
        }
        out += Array(#"],"Warnings":[]}"#.utf8) + [0x0a]
        return out
    }

    func listed(filters: Filters) throws -> [VolumeRecord] {
        try filters.validate(["dangling", "name", "label", "driver"])
        let used = filters.has("dangling") ? try store.volumeUseCounts() : [:]
        var out: [VolumeRecord] = []
        for v in try store.allVolumes() {
            if filters.has("name") && !filters["name"].contains(where: { v.name.contains($0) }) { continue }
            if filters.has("driver") && !filters["driver"].contains(v.driver) { continue }
            if filters.has("label") && !Filters.labelsMatch(filters["label"], labels(v)) { continue }
            if filters.has("dangling") {
                let want = filters["dangling"].contains { $0 == "true" || $0 == "1" }
                if (used[v.name] == nil) != want { continue }
            }
            out.append(v)
        }
        return out.sorted { $0.name < $1.name }
    }

    /// For `/system/df`: every volume with its size and users.
    public func usage() throws -> [Volume] {
        let used = try store.volumeUseCounts()
        return try store.allVolumes().map { v in
            view(v, usage: VolumeUsage(Size: FS.diskUsage(mountpoint(v.name)), RefCount: Int64(used[v.name] ?? 0)))
        }
    }

    // MARK: remove

    public func remove(_ name: String, force: Bool) throws {
        guard try store.volume(name) != nil else {
            if force { return }
            throw BerthError.notFound("get \(name): no such volume")
        }
        try store.deleteVolume(name) { users in
            BerthError.conflict("remove \(name): volume is in use - [\(users.joined(separator: ", "))]")
        }
        if Self.isMounted(mountpoint(name)) { _ = umount2(mountpoint(name), Int32(MNT_DETACH)) }
        discard(name)
        _ = listCache.withLock { $0.removeValue(forKey: name) }
        events.record("volume", "destroy", id: name, attributes: ["driver": "local"])
    }

    /// The directory of a volume whose row is gone.
    func discard(_ name: String) {
        let trash = root + "/.trash-" + name + "-" + Identifier.random64().prefix(8)
        if rename(root + "/" + name, trash) == 0 { FS.removeAll(trash) } else { FS.removeAll(root + "/" + name) }
    }

    /// Unused volumes: anonymous ones only unless `all` (API ≥ 1.42; before, every unused one).
    public func prune(filters: Filters, all: Bool) throws -> VolumePruneResponse {
        try filters.validate(["label", "label!", "all"])
        let every = all || filters["all"].contains { $0 == "true" || $0 == "1" }
        let used = try store.volumeUseCounts()
        var deleted: [String] = []
        var reclaimed: Int64 = 0
        for v in try store.allVolumes() where used[v.name] == nil {
            if !every && !v.anonymous && labels(v)[Self.anonymousLabel] == nil { continue }
            if filters.has("label") && !Filters.labelsMatch(filters["label"], labels(v)) { continue }
            if filters.has("label!") && Filters.labelsMatch(filters["label!"], labels(v)) { continue }
            let size = FS.diskUsage(mountpoint(v.name))
            do { try remove(v.name, force: false) } catch { continue }
            deleted.append(v.name)
            reclaimed += size
        }
        return VolumePruneResponse(VolumesDeleted: deleted, SpaceReclaimed: reclaimed)
    }

    /// After a container's rows are gone: its anonymous volumes that nobody else uses.
    func removeAnonymous(_ names: [String]) {
        for n in names {
            guard let v = try? store.volume(n), v.anonymous else { continue }
            do { try remove(n, force: false) } catch { log.debug("anonymous volume \(n.prefix(12)) kept: \(error)") }
        }
    }

    // MARK: reconcile

    /// At daemon start: a directory made or dropped when berthd stopped half way is finished.
    func reconcile() {
        let names = Set(((try? store.allVolumes()) ?? []).map(\.name))
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? [] {
            if entry.hasPrefix(".trash-") { FS.removeAll(root + "/" + entry); continue }
            if entry.hasPrefix(".tmp-") {
                let name = String(entry.dropFirst(5))
                // The row was written: the rename is what was left to do.
                if names.contains(name) && !FS.exists(root + "/" + name) { _ = rename(root + "/" + entry, root + "/" + name) }
                else { FS.removeAll(root + "/" + entry) }
                continue
            }
            if !names.contains(entry) { discard(entry) }
        }
        for n in names where !FS.isDirectory(mountpoint(n)) {
            log.warning("volume \(n) had no directory; made an empty one")
            try? FS.mkdirAll(mountpoint(n))
        }
    }
}
