//! Games and their ROMs: which games run, where their ROM files are found, and their md5 check.
//!
//! ROMs are never part of this repository. A ROM is looked up, in order, in `$ALE_ROMS_DIR`, in the `roms`
//! folder of an installed `ale-py` (found through `python3`), and in `~/.cache/myriad/roms`, where
//! `scripts/install_roms.py` puts the ROMs of the `ale-py` wheel from PyPI. Every ROM is checked against the md5
//! list in `roms.md5` (the ROMs `ale-py` ships) before ALE sees it.

use md5::{Digest, Md5};
use myriad_envs::{Error, Result};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// `<md5>  <rom>.bin` per line, the ROMs of the ale-py wheel.
const ROMS_MD5: &str = include_str!("../roms.md5");

/// The ROM names (file stems) the bundled ALE 0.6.0 has game logic for.
const SUPPORTED: &[&str] = &[
    "adventure",
    "air_raid",
    "alien",
    "amidar",
    "assault",
    "asterix",
    "asteroids",
    "atlantis",
    "bank_heist",
    "battle_zone",
    "beam_rider",
    "berzerk",
    "bowling",
    "boxing",
    "breakout",
    "carnival",
    "centipede",
    "chopper_command",
    "crazy_climber",
    "defender",
    "demon_attack",
    "donkey_kong",
    "double_dunk",
    "elevator_action",
    "enduro",
    "fishing_derby",
    "freeway",
    "frogger",
    "frostbite",
    "galaxian",
    "gopher",
    "gravitar",
    "hero",
    "ice_hockey",
    "jamesbond",
    "journey_escape",
    "kaboom",
    "kangaroo",
    "keystone_kapers",
    "king_kong",
    "koolaid",
    "krull",
    "kung_fu_master",
    "laser_gates",
    "lost_luggage",
    "montezuma_revenge",
    "mr_do",
    "ms_pacman",
    "name_this_game",
    "phoenix",
    "pitfall",
    "pong",
    "pooyan",
    "private_eye",
    "qbert",
    "riverraid",
    "road_runner",
    "robotank",
    "seaquest",
    "sir_lancelot",
    "skiing",
    "solaris",
    "space_invaders",
    "star_gunner",
    "tennis",
    "tetris",
    "time_pilot",
    "trondead",
    "turmoil",
    "tutankham",
    "up_n_down",
    "venture",
    "video_pinball",
    "wizard_of_wor",
    "yars_revenge",
    "zaxxon",
];

/// The 26 games of the Atari 100k benchmark.
pub const ATARI_100K: &[&str] = &[
    "alien",
    "amidar",
    "assault",
    "asterix",
    "bank_heist",
    "battle_zone",
    "boxing",
    "breakout",
    "chopper_command",
    "crazy_climber",
    "demon_attack",
    "freeway",
    "frostbite",
    "gopher",
    "hero",
    "jamesbond",
    "kangaroo",
    "krull",
    "kung_fu_master",
    "ms_pacman",
    "pong",
    "private_eye",
    "qbert",
    "road_runner",
    "seaquest",
    "up_n_down",
];

/// A game ALE can run, named both ways.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Game {
    /// ROM file stem, snake case (`ms_pacman`).
    pub rom: &'static str,
}

impl Game {
    /// Every game the bundled ALE supports, in ROM-name order.
    pub fn all() -> impl Iterator<Item = Game> {
        SUPPORTED.iter().map(|rom| Game { rom })
    }

    /// The game of a ROM name (`ms_pacman`).
    pub fn from_rom(rom: &str) -> Option<Game> {
        SUPPORTED.iter().find(|r| **r == rom).map(|rom| Game { rom })
    }

    /// The game of a Gymnasium name (`MsPacman`).
    pub fn from_name(name: &str) -> Option<Game> {
        Game::all().find(|g| g.name() == name)
    }

    /// Gymnasium's name: the ROM name in camel case (`ms_pacman` → `MsPacman`, `up_n_down` → `UpNDown`).
    pub fn name(&self) -> String {
        self.rom
            .split('_')
            .map(|part| {
                let mut chars = part.chars();
                chars.next().map(|c| c.to_ascii_uppercase().to_string() + chars.as_str()).unwrap_or_default()
            })
            .collect()
    }

    /// The v5 id, `ALE/<Name>-v5`.
    pub fn id(&self) -> String {
        format!("ALE/{}-v5", self.name())
    }

    /// The md5 of the ROM `ale-py` ships for this game.
    pub fn md5(&self) -> Option<&'static str> {
        let file = format!("{}.bin", self.rom);
        ROMS_MD5.lines().find_map(|line| {
            let (md5, name) = line.split_once("  ")?;
            (name.trim() == file).then_some(md5)
        })
    }

    /// Finds and verifies this game's ROM in [`rom_dirs`].
    pub fn rom(&self) -> Result<Rom> {
        self.rom_in(&rom_dirs())
    }

    /// Finds and verifies this game's ROM in `dirs`, the first folder holding it winning.
    pub fn rom_in(&self, dirs: &[PathBuf]) -> Result<Rom> {
        let file = format!("{}.bin", self.rom);
        let path = dirs.iter().map(|d| d.join(&file)).find(|p| p.is_file()).ok_or_else(|| {
            let looked: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
            Error::Io(format!(
                "ROM `{file}` for {} not found (looked in: {}); install the ROMs with `python3 \
                 scripts/install_roms.py` (downloads the ale-py wheel from PyPI and checks every md5) or point \
                 ALE_ROMS_DIR at a folder holding `{file}`",
                self.id(),
                if looked.is_empty() {
                    "nowhere: ALE_ROMS_DIR unset, no ale-py, no home folder".into()
                } else {
                    looked.join(", ")
                },
            ))
        })?;
        verify(*self, &path)?;
        Ok(Rom { game: *self, path })
    }
}

/// A ROM file found on disk whose md5 is the one expected for its game.
#[derive(Clone, Debug, PartialEq)]
pub struct Rom {
    pub game: Game,
    pub path: PathBuf,
}

fn verify(game: Game, path: &Path) -> Result<()> {
    let bytes = std::fs::read(path).map_err(|e| Error::Io(format!("reading ROM {}: {e}", path.display())))?;
    let actual: String = Md5::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect();
    match game.md5() {
        Some(expected) if expected == actual => Ok(()),
        Some(expected) => Err(Error::Io(format!(
            "ROM {} has md5 {actual}, expected {expected} (the ROM ale-py ships); reinstall it with `python3 \
             scripts/install_roms.py`",
            path.display()
        ))),
        None => Err(Error::Io(format!("no md5 is known for ROM {}", path.display()))),
    }
}

/// The folders searched for ROMs, in order.
pub fn rom_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(dir) = std::env::var_os("ALE_ROMS_DIR").filter(|d| !d.is_empty()) {
        dirs.push(PathBuf::from(dir));
    }
    if let Some(dir) = ale_py_roms() {
        dirs.push(dir.clone());
    }
    if let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        dirs.push(Path::new(&home).join(".cache/myriad/roms"));
    }
    dirs
}

/// The `roms` folder of an `ale-py` installed for `python3`, if any (asked once per process).
fn ale_py_roms() -> &'static Option<PathBuf> {
    static DIR: OnceLock<Option<PathBuf>> = OnceLock::new();
    DIR.get_or_init(|| {
        let script = "import importlib.util, os\ns = importlib.util.find_spec('ale_py')\n\
                      print(os.path.join(os.path.dirname(s.origin), 'roms') if s and s.origin else '')";
        let out = std::process::Command::new("python3").args(["-c", script]).output().ok()?;
        let dir = String::from_utf8(out.stdout).ok()?.trim().to_string();
        (out.status.success() && !dir.is_empty()).then(|| PathBuf::from(dir))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_gymnasium() {
        let name = |rom| Game::from_rom(rom).unwrap().name();
        assert_eq!(name("ms_pacman"), "MsPacman");
        assert_eq!(name("up_n_down"), "UpNDown");
        assert_eq!(name("jamesbond"), "Jamesbond");
        assert_eq!(Game::from_name("KungFuMaster").unwrap().rom, "kung_fu_master");
        assert_eq!(Game::from_rom("pong").unwrap().id(), "ALE/Pong-v5");
        assert!(Game::from_rom("tic_tac_toe_3d").is_none());
    }

    #[test]
    fn every_supported_game_has_an_md5() {
        for game in Game::all() {
            assert!(game.md5().is_some(), "{}", game.rom);
        }
        for rom in ATARI_100K {
            assert!(Game::from_rom(rom).is_some(), "{rom}");
        }
    }

    #[test]
    fn a_corrupt_rom_is_refused_with_the_fix() {
        let dir = std::env::temp_dir().join(format!("myriad-bad-rom-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("pong.bin");
        std::fs::write(&path, b"not a rom").unwrap();
        let err = verify(Game::from_rom("pong").unwrap(), &path).unwrap_err().to_string();
        assert!(err.contains("expected") && err.contains("install_roms.py"), "{err}");
        let err = Game::from_rom("breakout").unwrap().rom_in(&[dir.clone()]).unwrap_err().to_string();
        assert!(err.contains("breakout.bin") && err.contains("not found") && err.contains("ALE_ROMS_DIR"), "{err}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
