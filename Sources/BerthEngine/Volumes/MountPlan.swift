import BerthArchive
import BerthExecutor
import BerthModels
import BerthStore
import BerthSystem
import Foundation

/// A container's mounts as dockerd reads them from a create request: `-v` (`Binds`), `--mount`
/// (`Mounts`), `-v /path` and the image's VOLUMEs (`Config.Volumes`), and `--volumes-from`.
/// Checked and resolved at create into mount rows; the volumes they name are made then.
struct MountPlan {
    struct Wanted {
        var record: MountRecord
        /// For a volume that may not exist yet: how to make it.
        var anonymous = false
        var labels: [String: String]? = nil
        var options: [String: String]? = nil
    }
    var mounts: [Wanted] = []

    static let propagations: Set<String> = ["shared", "rshared", "slave", "rslave", "private", "rprivate"]

    static func invalidSpec(_ spec: String, _ why: String? = nil) -> BerthError {
        BerthError.invalid("invalid volume specification: '\(spec)'" + (why.map { ": " + $0 } ?? ""))
    }

    static func record(type: String, name: String = "", source: String = "", destination: String, rw: Bool, mode: String,
                       propagation: String = "", copyUp: Bool = false, subpath: String = "") -> MountRecord {
        MountRecord(container_id: "", type: type, name: name, source: source, destination: destination, rw: rw, mode: mode,
                    propagation: propagation, copy_up: copyUp, subpath: subpath, position: 0)
    }

    /// `/a/./b/` → `/a/b`: destinations compare (and are refused as duplicates) cleaned.
    static func clean(_ path: String) -> String { "/" + (cleanArchivePath(path, clamp: true) ?? "") }

    static func resolve(_ hc: HostConfig, _ config: ContainerConfig, store: Store) throws -> MountPlan {
        var plan = MountPlan()
        var seen = Set<String>()
        func add(_ w: Wanted) throws {
            let dst = w.record.destination
            if seen.contains(dst) { throw BerthError.invalid("Duplicate mount point: \(dst)") }
            seen.insert(dst)
            plan.mounts.append(w)
        }
        for spec in hc.Binds ?? [] { try add(parseBind(spec)) }
        for m in hc.Mounts ?? [] { try add(parseMount(m)) }
        // --volumes-from: the other container's volumes and binds, read-only with `:ro`.
        for ref in hc.VolumesFrom ?? [] {
            let parts = ref.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            guard parts.count <= 2, !parts[0].isEmpty else { throw BerthError.invalid("invalid volumes-from spec: \(ref)") }
            let mode = parts.count == 2 ? parts[1] : ""
            guard ["", "ro", "rw"].contains(mode) else { throw BerthError.invalid("invalid mode for volumes-from: \(mode)") }
            let other = try ContainerLookup.resolve(store, parts[0])
            for m in try store.mounts(container: other.id) where m.type != "tmpfs" && !seen.contains(m.destination) {
                var r = m
                r.rw = mode.isEmpty ? m.rw : mode == "rw"
                r.copy_up = false
                try add(Wanted(record: r))
            }
        }
        // `-v /path` and the image's VOLUMEs: anonymous volumes, filled from the image.
        for path in (config.Volumes ?? [:]).keys.sorted() {
            let dst = clean(path)
            guard path.hasPrefix("/") else { throw invalidSpec(path, "invalid mount config for type \"volume\": invalid mount path: '\(path)' mount path must be absolute") }
            if seen.contains(dst) || (hc.Tmpfs ?? [:]).keys.contains(where: { clean($0) == dst }) { continue }
            try add(Wanted(record: record(type: "volume", name: Identifier.random64(), destination: dst, rw: true, mode: "", copyUp: true),
                           anonymous: true))
        }
        return plan
    }

    /// `name:/dst[:opts]` (a volume, made if missing) or `/src:/dst[:opts]` (a bind; a missing
    /// source directory is made, as dockerd does for `-v`).
    static func parseBind(_ spec: String) throws -> Wanted {
        let parts = spec.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2 || parts.count == 3, !parts[0].isEmpty, !parts[1].isEmpty else { throw invalidSpec(spec) }
        let (src, dst, mode) = (parts[0], parts[1], parts.count == 3 ? parts[2] : "")
        let bind = src.hasPrefix("/")
        guard dst.hasPrefix("/") else {
            throw invalidSpec(spec, "invalid mount config for type \"\(bind ? "bind" : "volume")\": invalid mount path: '\(dst)' mount path must be absolute")
        }
        var rw = true, copy = true
        var propagation = ""
        for o in mode.split(separator: ",").map(String.init) {
            switch o {
            case "ro": rw = false
            case "rw": rw = true
            case "z", "Z": break
            case "nocopy" where !bind: copy = false
            case _ where propagations.contains(o) && bind: propagation = o
            default: throw invalidSpec(spec)
            }
        }
        if bind {
            let source = clean(src)
            guard source != "/" || src == "/" else { throw invalidSpec(spec) }
            if !FS.exists(source) { try FS.mkdirAll(source) }
            return Wanted(record: record(type: "bind", source: source, destination: clean(dst), rw: rw, mode: mode,
                                         propagation: propagation.isEmpty ? "rprivate" : propagation))
        }
        try VolumeService.checkName(src)
        return Wanted(record: record(type: "volume", name: src, destination: clean(dst), rw: rw, mode: mode.isEmpty ? "z" : mode, copyUp: copy))
    }

    /// One `--mount`, checked as dockerd checks it.
    static func parseMount(_ m: MountSpec) throws -> Wanted {
        let type = m.Type ?? ""
        func bad(_ why: String) -> BerthError { BerthError.invalid("invalid mount config for type \"\(type)\": \(why)") }
        guard let target = m.Target, !target.isEmpty else { throw bad("field Target must not be empty") }
        guard target.hasPrefix("/") else { throw bad("invalid mount path: '\(target)' mount path must be absolute") }
        let dst = clean(target)
        let rw = !(m.ReadOnly ?? false)
        switch type {
        case "bind":
            guard let src = m.Source, !src.isEmpty else { throw bad("field Source must not be empty") }
            guard src.hasPrefix("/") else { throw bad("invalid mount path: '\(src)' mount path must be absolute") }
            if m.VolumeOptions != nil { throw bad("field VolumeOptions must not be specified") }
            if m.TmpfsOptions != nil { throw bad("field TmpfsOptions must not be specified") }
            let source = clean(src)
            if !FS.exists(source) {
                if m.BindOptions?.CreateMountpoint == true { try FS.mkdirAll(source) }
                else { throw bad("bind source path does not exist: \(source)") }
            }
            let p = m.BindOptions?.Propagation ?? ""
            guard p.isEmpty || propagations.contains(p) else { throw bad("invalid propagation mode: \(p)") }
            // bind-recursive=disabled: the source alone, not the mounts beneath it.
            let nonRecursive = m.BindOptions?.NonRecursive == true
            return Wanted(record: record(type: "bind", source: source, destination: dst, rw: rw, mode: nonRecursive ? "nonrecursive" : "",
                                         propagation: p.isEmpty ? "rprivate" : p))
        case "volume":
            if m.BindOptions != nil { throw bad("field BindOptions must not be specified") }
            if m.TmpfsOptions != nil { throw bad("field TmpfsOptions must not be specified") }
            let o = m.VolumeOptions
            if let d = o?.DriverConfig?.Name, !d.isEmpty, d != "local" {
                throw BerthError.notFound("error looking up volume plugin \(d): plugin \"\(d)\" not found")
            }
            let subpath = o?.Subpath ?? ""
            if !subpath.isEmpty && (subpath.hasPrefix("/") || subpath.split(separator: "/").contains("..")) {
                throw bad("subpath must be a relative path within the volume")
            }
            let name = m.Source ?? ""
            if !name.isEmpty { try VolumeService.checkName(name) }
            try VolumeService.checkOptions(o?.DriverConfig?.Options, name: name)
            return Wanted(record: record(type: "volume", name: name.isEmpty ? Identifier.random64() : name, destination: dst, rw: rw,
                                         mode: "", copyUp: !(o?.NoCopy ?? false) && subpath.isEmpty, subpath: subpath),
                          anonymous: name.isEmpty, labels: o?.Labels, options: o?.DriverConfig?.Options)
        case "tmpfs":
            if let s = m.Source, !s.isEmpty { throw bad("field Source must not be specified") }
            if m.BindOptions != nil || m.VolumeOptions != nil { throw bad("field \(m.BindOptions != nil ? "BindOptions" : "VolumeOptions") must not be specified") }
            var opts: [String] = []
            if let size = m.TmpfsOptions?.SizeBytes, size > 0 { opts.append("size=\(size)") }
            if let mode = m.TmpfsOptions?.Mode, mode > 0 { opts.append("mode=" + String(mode, radix: 8)) }
            for pair in m.TmpfsOptions?.Options ?? [] {
                guard let k = pair.first, k.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" || $0 == "-" }) else { throw bad("invalid tmpfs option") }
                let v = pair.count > 1 ? pair[1] : ""
                guard !v.contains(",") else { throw bad("invalid tmpfs option \(k)") }
                opts.append(v.isEmpty ? k : "\(k)=\(v)")
            }
            return Wanted(record: record(type: "tmpfs", source: opts.joined(separator: ","), destination: dst, rw: rw, mode: ""))
        case "":
            throw BerthError.invalid("invalid mount config: mount type unknown")
        default:
            throw BerthError.invalid("invalid mount config for type \"\(type)\": mount type unknown")
        }
    }
}
