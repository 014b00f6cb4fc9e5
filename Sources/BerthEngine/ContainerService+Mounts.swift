import BerthExecutor
import BerthModels
import BerthStore
import BerthSystem
import CBerthSys
import Foundation

/// Volumes, binds and tmpfs mounts of containers: recorded at create, applied at start, shown
/// by inspect, and anonymous volumes removed with their container (`rm -v`, `--rm`).
extension ContainerService {
    /// Makes the volumes the plan names (named ones if missing, anonymous ones always) and
    /// records the container's mounts; anonymous volumes made here go again if that fails.
    nonisolated func recordMounts(_ id: String, _ plan: MountPlan) throws {
        guard !plan.mounts.isEmpty else { return }
        var made: [String] = []
        do {
            var rows: [MountRecord] = []
            for (i, w) in plan.mounts.enumerated() {
                var r = w.record
                r.container_id = id
                r.position = Int64(i)
                if r.type == "volume" {
                    let existed = try store.volume(r.name) != nil
                    try volumes.make(r.name, labels: w.labels, options: w.options, anonymous: w.anonymous)
                    if !existed && w.anonymous { made.append(r.name) }
                }
                rows.append(r)
            }
            try store.insertMounts(rows)
        } catch {
            for n in made { try? volumes.remove(n, force: true) }
            throw error
        }
    }

    /// The OCI mounts of a container's recorded mounts.
    nonisolated func applyMounts(_ id: String, to spec: inout ContainerSpec) throws {
        for m in try store.mounts(container: id) {
            switch m.type {
            case "tmpfs":
                let opts = ["nosuid", "nodev", "noexec"] + (m.rw ? [] : ["ro"]) + m.source.split(separator: ",").map(String.init)
                spec.mounts.append(.init(m.destination, type: "tmpfs", source: "tmpfs", options: opts))
            case "volume":
                try volumes.mountIfNeeded(m.name)
                let dir = volumes.mountpoint(m.name)
                if !m.subpath.isEmpty {
                    // A directory beneath the volume reached without any link, resolved and held
                    // by the runtime itself (a link a container left must not point runc elsewhere).
                    spec.pinned.append(PinnedSource(mount: spec.mounts.count, root: dir, subpath: m.subpath,
                                                    refusal: "error while mounting volume '\(dir)': cannot access path \(m.subpath): no such directory in volume \(m.name) (or it passes through a symbolic link)"))
                }
                spec.mounts.append(.init(m.destination, type: "bind", source: m.subpath.isEmpty ? dir : dir + "/" + m.subpath,
                                         options: ["rbind", m.rw ? "rw" : "ro", "rprivate"]))
            default:
                guard FS.exists(m.source) else {
                    throw BerthError.invalid("invalid mount config for type \"bind\": bind source path does not exist: \(m.source)")
                }
                spec.mounts.append(.init(m.destination, type: "bind", source: m.source,
                                         options: [m.mode == "nonrecursive" ? "bind" : "rbind", m.rw ? "rw" : "ro",
                                                   m.propagation.isEmpty ? "rprivate" : m.propagation]))
            }
        }
    }

    /// `Mounts` as inspect shows them.
    nonisolated func mountPoints(_ id: String) -> [MountPoint] {
        mountPoints((try? store.mounts(container: id)) ?? [])
    }

    nonisolated func mountPoints(_ rows: [MountRecord]) -> [MountPoint] {
        rows.map { m in
            switch m.type {
            case "volume":
                return MountPoint(Type: "volume", Name: m.name, Source: volumes.mountpoint(m.name), Destination: m.destination,
                                  Driver: "local", Mode: m.mode, RW: m.rw, Propagation: "")
            case "tmpfs":
                return MountPoint(Type: "tmpfs", Name: nil, Source: "", Destination: m.destination, Driver: nil, Mode: m.mode,
                                  RW: m.rw, Propagation: "")
            default:
                return MountPoint(Type: "bind", Name: nil, Source: m.source, Destination: m.destination, Driver: nil, Mode: m.mode == "nonrecursive" ? "" : m.mode,
                                  RW: m.rw, Propagation: m.propagation)
            }
        }
    }

    /// At create, as dockerd: empty volumes mounted over a directory of the image get its content.
    func populateVolumes(_ id: String) async throws {
        // Only empty volumes over a path some layer of the image has: the root filesystem is
        // mounted for nothing else (a named volume used again costs no mount).
        guard let c = try store.container(id) else { return }
        let layers = (try? images.layerPaths(c.image_id)) ?? []
        let copies = ((try? store.mounts(container: id)) ?? []).filter { m in
            guard m.type == "volume", m.copy_up, m.subpath.isEmpty else { return false }
            let entries = (try? FileManager.default.contentsOfDirectory(atPath: self.volumes.mountpoint(m.name))) ?? []
            return entries.isEmpty && layers.contains { FS.exists($0 + m.destination) }
        }
        guard !copies.isEmpty else { return }
        let volumes = self.volumes
        try await withRootFS(id) { root in
            try await Blocking.run("berth-copy-up") {
                for m in copies { try VolumeCopy.copyUp(root: root, path: m.destination, into: volumes.mountpoint(m.name)) }
            }
        }
    }

    /// The anonymous volumes of a container (read before its rows go).
    nonisolated func anonymousVolumes(_ id: String) -> [String] {
        ((try? store.mounts(container: id)) ?? []).filter { $0.type == "volume" }.map(\.name)
            .filter { (try? store.volume($0))??.anonymous == true }
    }
}
