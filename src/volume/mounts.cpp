#include "bocker/volume/mounts.hpp"

#include <sys/mount.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "bocker/runtime/error.hpp"
#include "bocker/runtime/file.hpp"
#include "bocker/volume/store.hpp"

namespace bocker::volume {

using nlohmann::json;

namespace {

std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (true) {
    std::size_t pos = s.find(sep, start);
    out.emplace_back(s.substr(start, pos == std::string_view::npos ? std::string_view::npos : pos - start));
    if (pos == std::string_view::npos) break;
    start = pos + 1;
  }
  return out;
}

bool is_propagation(const std::string& o) {
  return o == "shared" || o == "rshared" || o == "slave" || o == "rslave" || o == "private" ||
         o == "rprivate";
}

// Tmpfs options Docker accepts: mount flags, and size/mode/uid/gid/nr_inodes with values.
void check_tmpfs_option(const std::string& o) {
  static const std::set<std::string> kFlags = {"ro",   "rw",     "exec", "noexec",
                                               "suid", "nosuid", "dev",  "nodev"};
  if (kFlags.count(o) != 0) return;
  auto eq = o.find('=');
  std::string key = o.substr(0, eq);
  if (eq != std::string::npos && eq + 1 < o.size() &&
      (key == "size" || key == "mode" || key == "uid" || key == "gid" || key == "nr_inodes")) {
    std::string v = o.substr(eq + 1);
    bool ok = std::all_of(v.begin(), v.end(), [](char c) {
      return (c >= '0' && c <= '9') || c == 'k' || c == 'm' || c == 'g' || c == 'K' || c == 'M' || c == 'G' ||
             c == '%';
    });
    if (ok) return;
  }
  throw invalid("invalid tmpfs option \"" + o + "\"");
}

const json* field(const json& j, const char* key) {
  auto it = j.find(key);
  return it == j.end() || it->is_null() ? nullptr : &*it;
}

std::string string_field(const json& j, const char* key, const std::string& what) {
  const json* v = field(j, key);
  if (v == nullptr) return {};
  if (!v->is_string()) throw invalid(what + ": " + key + " must be a string");
  return v->get<std::string>();
}

bool bool_field(const json& j, const char* key, const std::string& what) {
  const json* v = field(j, key);
  if (v == nullptr) return false;
  if (!v->is_boolean()) throw invalid(what + ": " + key + " must be a boolean");
  return v->get<bool>();
}

}  // namespace

json MountPoint::to_json() const {
  return {{"Type", type},
          {"Name", name},
          {"Source", source},
          {"Destination", destination},
          {"Mode", mode},
          {"RW", rw},
          {"Propagation", propagation},
          {"Anonymous", anonymous},
          {"CreateSource", create_source},
          {"TmpfsOptions", tmpfs_options},
          {"CopyUp", copy_up}};
}

MountPoint MountPoint::from_json(const json& j) {
  MountPoint m;
  m.type = j.value("Type", "");
  m.name = j.value("Name", "");
  m.source = j.value("Source", "");
  m.destination = j.value("Destination", "");
  m.mode = j.value("Mode", "");
  m.rw = j.value("RW", true);
  m.propagation = j.value("Propagation", "");
  m.anonymous = j.value("Anonymous", false);
  m.create_source = j.value("CreateSource", false);
  m.tmpfs_options = j.value("TmpfsOptions", std::vector<std::string>{});
  m.copy_up = j.value("CopyUp", false);
  return m;
}

json mounts_to_json(const std::vector<MountPoint>& mounts) {
  json out = json::array();
  for (const auto& m : mounts) out.push_back(m.to_json());
  return out;
}

json mounts_api(const std::vector<MountPoint>& mounts) {
  json out = json::array();
  for (const auto& m : mounts) out.push_back(m.to_api());
  return out;
}

std::vector<MountPoint> mounts_from_json(const json& j) {
  std::vector<MountPoint> out;
  if (!j.is_array()) return out;
  for (const auto& e : j) {
    try {
      MountPoint m = MountPoint::from_json(e);
      if (!m.type.empty() && !m.destination.empty()) out.push_back(std::move(m));
    } catch (const std::exception&) {
    }
  }
  return out;
}

json MountPoint::to_api() const {
  json j = {{"Type", type}, {"Source", source}, {"Destination", destination},
            {"Mode", mode}, {"RW", rw},         {"Propagation", propagation}};
  if (type == "volume") {
    j["Name"] = name;
    j["Driver"] = "local";
  }
  return j;
}

std::string clean_destination(std::string_view path, std::string_view type) {
  if (path.find('\0') != std::string_view::npos) throw invalid("mount path contains a NUL byte");
  if (path.empty() || path[0] != '/') {
    throw invalid("invalid mount config for type \"" + std::string(type) + "\": invalid mount path: '" +
                  std::string(path) + "' mount path must be absolute");
  }
  std::vector<std::string> parts;
  for (auto& c : split(path, '/')) {
    if (c.empty() || c == ".") continue;
    if (c == "..") {
      if (!parts.empty()) parts.pop_back();
      continue;
    }
    parts.push_back(c);
  }
  if (parts.empty()) throw invalid("invalid specification: destination can't be '/'");
  std::string out;
  for (const auto& c : parts) out += "/" + c;
  if (out.size() > 4000) throw invalid("mount path " + out.substr(0, 64) + "... is too long");
  return out;
}

MountPoint parse_bind(const std::string& spec) {
  if (spec.find('\0') != std::string::npos)
    throw invalid("invalid volume specification: contains a NUL byte");
  auto parts = split(spec, ':');
  if (parts.size() > 3 || spec.empty()) throw invalid("invalid volume specification: '" + spec + "'");
  MountPoint m;
  if (parts.size() == 1) {  // "/ctr": an anonymous volume
    m.type = "volume";
    m.anonymous = true;
    m.copy_up = true;
    m.destination = clean_destination(parts[0], "volume");
    return m;
  }
  const std::string& src = parts[0];
  if (src.empty()) throw invalid("invalid volume specification: '" + spec + "': empty source");
  if (src[0] == '/') {
    m.type = "bind";
    m.source = std::filesystem::path(src).lexically_normal().string();
    if (m.source.size() > 1 && m.source.back() == '/') m.source.pop_back();
    m.propagation = "rprivate";
    m.create_source = true;
  } else {
    if (!valid_name(src)) {
      throw invalid(
          "create " + src + ": \"" + src +
          "\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" "
          "are allowed. If you intended to pass a host directory, use absolute path");
    }
    m.type = "volume";
    m.name = src;
    m.copy_up = true;
  }
  m.destination = clean_destination(parts[1], m.type);
  if (parts.size() == 3) {
    m.mode = parts[2];
    bool rw_seen = false;
    for (const auto& o : split(parts[2], ',')) {
      if (o == "ro" || o == "rw") {
        if (rw_seen) throw invalid("invalid mode: " + parts[2]);
        rw_seen = true;
        m.rw = o == "rw";
      } else if (o == "nocopy") {
        m.copy_up = false;
      } else if (o == "z" || o == "Z" || o == "copy") {
        // SELinux relabelling: accepted, nothing to do here.
      } else if (is_propagation(o)) {
        if (m.type != "bind")
          throw invalid("invalid mode: " + parts[2] + " (propagation applies to binds only)");
        m.propagation = o;
      } else {
        throw invalid("invalid mode: " + parts[2]);
      }
    }
  }
  return m;
}

MountPoint parse_mount(const json& j) {
  if (!j.is_object()) throw invalid("HostConfig.Mounts entries must be objects");
  std::string type = string_field(j, "Type", "mount");
  if (type.empty()) throw invalid("invalid mount config: mount type is missing");
  std::string what = "invalid mount config for type \"" + type + "\"";
  std::string source = string_field(j, "Source", what);
  std::string target = string_field(j, "Target", what);
  if (target.empty()) throw invalid(what + ": field Target must not be empty");
  MountPoint m;
  m.type = type;
  m.rw = !bool_field(j, "ReadOnly", what);
  m.mode = m.rw ? "" : "ro";
  m.destination = clean_destination(target, type);
  if (source.find('\0') != std::string::npos) throw invalid(what + ": source contains a NUL byte");
  if (type == "bind") {
    if (source.empty()) throw invalid(what + ": field Source must not be empty");
    if (source[0] != '/')
      throw invalid(what + ": invalid mount path: '" + source + "' mount path must be absolute");
    m.source = std::filesystem::path(source).lexically_normal().string();
    if (m.source.size() > 1 && m.source.back() == '/') m.source.pop_back();
    m.propagation = "rprivate";
    if (const json* bo = field(j, "BindOptions"); bo != nullptr && bo->is_object()) {
      std::string p = string_field(*bo, "Propagation", what);
      if (!p.empty()) {
        if (!is_propagation(p)) throw invalid(what + ": invalid propagation mode \"" + p + "\"");
        m.propagation = p;
      }
    }
  } else if (type == "volume") {
    m.copy_up = true;
    if (source.empty()) {
      m.anonymous = true;
    } else {
      if (!valid_name(source)) check_name(source);
      m.name = source;
    }
    if (field(j, "BindOptions") != nullptr)
      throw invalid(what + ": BindOptions cannot be used with a volume");
    if (const json* vo = field(j, "VolumeOptions"); vo != nullptr && vo->is_object()) {
      if (const json* dc = field(*vo, "DriverConfig"); dc != nullptr && dc->is_object()) {
        std::string drv = string_field(*dc, "Name", what);
        if (!drv.empty() && drv != "local")
          throw invalid(what + ": volume driver \"" + drv + "\" is not supported");
      }
      if (const json* nc = field(*vo, "NoCopy"); nc != nullptr && nc->is_boolean() && nc->get<bool>())
        m.copy_up = false;
    }
  } else if (type == "tmpfs") {
    if (!source.empty()) throw invalid(what + ": field Source must be empty for tmpfs");
    if (const json* to = field(j, "TmpfsOptions"); to != nullptr) {
      if (!to->is_object()) throw invalid(what + ": TmpfsOptions must be an object");
      if (const json* sz = field(*to, "SizeBytes"); sz != nullptr) {
        if (!sz->is_number_integer() || sz->get<long long>() < 0) throw invalid(what + ": invalid SizeBytes");
        if (sz->get<long long>() > 0)
          m.tmpfs_options.push_back("size=" + std::to_string(sz->get<long long>()));
      }
      if (const json* md = field(*to, "Mode"); md != nullptr) {
        if (!md->is_number_integer() || md->get<long long>() < 0 || md->get<long long>() > 07777) {
          throw invalid(what + ": invalid Mode");
        }
        char buf[16];
        std::snprintf(buf, sizeof buf, "mode=%llo", md->get<long long>());
        m.tmpfs_options.push_back(buf);
      }
    }
  } else {
    throw invalid("invalid mount config: mount type unknown: \"" + type + "\"");
  }
  return m;
}

MountPoint parse_tmpfs(const std::string& destination, const std::string& options) {
  MountPoint m;
  m.type = "tmpfs";
  m.destination = clean_destination(destination, "tmpfs");
  m.tmpfs_options = {"noexec", "nosuid", "nodev"};
  if (!options.empty()) {
    for (const auto& o : split(options, ',')) {
      if (o.empty()) continue;
      check_tmpfs_option(o);
      if (o == "ro") m.rw = false;
      m.tmpfs_options.push_back(o);
    }
  }
  m.mode = options;
  return m;
}

VolumesFrom parse_volumes_from(const std::string& spec) {
  auto parts = split(spec, ':');
  if (parts.size() > 2 || parts[0].empty())
    throw invalid("invalid volumes-from specification: '" + spec + "'");
  VolumesFrom v{parts[0], std::nullopt};
  if (parts.size() == 2) {
    if (parts[1] == "ro") {
      v.rw = false;
    } else if (parts[1] == "rw") {
      v.rw = true;
    } else {
      throw invalid("invalid mode for volumes-from: " + parts[1]);
    }
  }
  return v;
}

std::vector<MountPoint> plan(const json& hc, const std::vector<std::string>& image_volumes,
                             const std::function<std::vector<MountPoint>(const std::string&)>& mounts_of) {
  std::vector<MountPoint> out;
  std::set<std::string> taken;
  auto add_explicit = [&](MountPoint m) {
    if (!taken.insert(m.destination).second) throw invalid("Duplicate mount point: " + m.destination);
    out.push_back(std::move(m));
  };
  auto list = [&hc](const char* key) -> const json* {
    const json* v = field(hc, key);
    if (v != nullptr && !v->is_array()) throw invalid(std::string("HostConfig.") + key + " must be an array");
    return v;
  };
  if (const json* binds = list("Binds")) {
    for (const auto& b : *binds) {
      if (!b.is_string()) throw invalid("HostConfig.Binds entries must be strings");
      add_explicit(parse_bind(b.get<std::string>()));
    }
  }
  if (const json* mounts = list("Mounts")) {
    for (const auto& m : *mounts) add_explicit(parse_mount(m));
  }
  if (const json* tmpfs = field(hc, "Tmpfs")) {
    if (!tmpfs->is_object()) throw invalid("HostConfig.Tmpfs must be an object");
    for (auto it = tmpfs->begin(); it != tmpfs->end(); ++it) {
      if (!it.value().is_string()) throw invalid("HostConfig.Tmpfs values must be strings");
      add_explicit(parse_tmpfs(it.key(), it.value().get<std::string>()));
    }
  }
  if (const json* from = list("VolumesFrom")) {
    for (const auto& f : *from) {
      if (!f.is_string()) throw invalid("HostConfig.VolumesFrom entries must be strings");
      VolumesFrom vf = parse_volumes_from(f.get<std::string>());
      for (MountPoint m : mounts_of(vf.container)) {
        if (m.type == "tmpfs") continue;  // tmpfs is private to its container, as in Docker
        if (!taken.insert(m.destination).second) continue;
        if (vf.rw) {
          m.rw = *vf.rw;
          m.mode = m.rw ? "rw" : "ro";
        }
        m.anonymous = false;  // it belongs to the other container
        m.create_source = false;
        m.copy_up = false;
        out.push_back(std::move(m));
      }
    }
  }
  for (const auto& path : image_volumes) {
    std::string dest = clean_destination(path, "volume");
    if (!taken.insert(dest).second) continue;
    MountPoint m;
    m.type = "volume";
    m.anonymous = true;
    m.copy_up = true;
    m.destination = dest;
    out.push_back(std::move(m));
  }
  return out;
}

std::vector<std::string> materialize(std::vector<MountPoint>& mounts, Store& store) {
  std::vector<std::string> created;
  try {
    for (auto& m : mounts) {
      if (m.type == "bind") {
        struct stat st {};
        if (::stat(m.source.c_str(), &st) == 0) continue;
        if (errno != ENOENT) throw SystemError(errno, "stat bind source", m.source);
        if (!m.create_source) {
          throw invalid("invalid mount config for type \"bind\": bind source path does not exist: " +
                        m.source);
        }
        make_dirs(m.source, 0755);
      } else if (m.type == "volume") {
        if (m.name.empty()) {
          Volume v = store.create_anonymous();
          created.push_back(v.name);
          m.name = v.name;
          m.source = v.mountpoint;
        } else {
          Store::Created c = store.create(m.name);
          if (c.created) created.push_back(c.volume.name);
          m.source = c.volume.mountpoint;
        }
      }
    }
  } catch (...) {
    for (const auto& n : created) {
      try {
        store.remove(n, true, {});
      } catch (const std::exception&) {
      }
    }
    throw;
  }
  return created;
}

void check_sources(const std::vector<MountPoint>& mounts) {
  for (const auto& m : mounts) {
    if (m.type == "tmpfs") continue;
    struct stat st {};
    if (::stat(m.source.c_str(), &st) == 0) continue;
    if (errno == ENOENT && m.type == "bind" && m.create_source) {
      make_dirs(m.source, 0755);
      continue;
    }
    if (m.type == "volume")
      throw invalid("volume " + m.name + " of mount " + m.destination + " is gone: " + m.source);
    throw invalid("invalid mount config for type \"bind\": bind source path does not exist: " + m.source);
  }
}

std::vector<container::Mount> spawn_mounts(const std::vector<MountPoint>& mounts) {
  std::vector<const MountPoint*> sorted;
  for (const auto& m : mounts) sorted.push_back(&m);
  auto depth = [](const std::string& p) { return std::count(p.begin(), p.end(), '/'); };
  std::stable_sort(sorted.begin(), sorted.end(), [&depth](const MountPoint* a, const MountPoint* b) {
    return depth(a->destination) < depth(b->destination);
  });
  std::vector<container::Mount> out;
  for (const MountPoint* m : sorted) {
    container::Mount cm;
    cm.target = m->destination;
    cm.readonly = !m->rw;
    if (m->type == "tmpfs") {
      cm.source = "tmpfs";
      cm.fstype = "tmpfs";
      for (const auto& o : m->tmpfs_options) {
        if (o == "ro")
          cm.readonly = true;
        else if (o == "rw")
          cm.readonly = false;
        else if (o == "noexec")
          cm.flags |= MS_NOEXEC;
        else if (o == "exec")
          cm.flags &= ~static_cast<unsigned long>(MS_NOEXEC);
        else if (o == "nosuid")
          cm.flags |= MS_NOSUID;
        else if (o == "suid")
          cm.flags &= ~static_cast<unsigned long>(MS_NOSUID);
        else if (o == "nodev")
          cm.flags |= MS_NODEV;
        else if (o == "dev")
          cm.flags &= ~static_cast<unsigned long>(MS_NODEV);
        else
          cm.data += (cm.data.empty() ? "" : ",") + o;
      }
      if (m->tmpfs_options.empty()) cm.flags |= MS_NOSUID | MS_NODEV;
    } else {
      cm.source = m->source;
      cm.bind = true;  // propagation: the container's mount namespace is private either way
    }
    out.push_back(std::move(cm));
  }
  return out;
}

}  // namespace bocker::volume
