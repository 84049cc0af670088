//! One Arcade Learning Environment emulator (ALE 0.6.0 through `ale-sys`), behind a safe interface.
//!
//! ALE 0.6 ends the process (`exit(1)`) on a missing or unsupported ROM and throws C++ exceptions on an
//! invalid mode or difficulty; neither may reach it. [`Emulator::open`] therefore takes only a [`Rom`] whose
//! file was found and whose md5 was verified, and checks modes, difficulties and actions against what the
//! loaded game reports before handing them over.

use crate::roms::Rom;
use ale_sys as sys;
use myriad_envs::{Error, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::ffi::{c_char, CString};
use std::sync::Mutex;

/// Width and height of the Atari screen ALE renders.
pub const SCREEN_WIDTH: usize = 160;
pub const SCREEN_HEIGHT: usize = 210;
/// Bytes of one grayscale screen.
pub const SCREEN_BYTES: usize = SCREEN_WIDTH * SCREEN_HEIGHT;
/// Bytes of the console RAM.
pub const RAM_BYTES: usize = 128;
/// ALE's full (legal) action set: ids 0..18.
pub const LEGAL_ACTIONS: usize = 18;
/// The ALE action id of FIRE.
pub const FIRE: u8 = 1;
/// The ALE action id of NOOP.
pub const NOOP: u8 = 0;

/// ALE keeps global state (its logger) and reads files while loading; emulators are opened one at a time.
static OPEN: Mutex<()> = Mutex::new(());

/// The settings ALE reads when it loads a ROM.
#[derive(Clone, Debug, PartialEq)]
pub struct EmulatorSettings {
    /// Seed of ALE's own generator (sticky actions). Set explicitly: ALE's default is not reproducible.
    pub random_seed: i32,
    /// Probability that the previous action is repeated instead of the new one, drawn every emulator frame.
    pub repeat_action_probability: f32,
    /// Game mode (`None`: the game's default).
    pub mode: Option<u32>,
    /// Game difficulty (`None`: the game's default).
    pub difficulty: Option<u32>,
}

/// A loaded game. Not shared between threads; moved between them freely.
pub struct Emulator {
    raw: *mut sys::ALEInterface,
    minimal_actions: Vec<u8>,
    /// The loaded game's id: saved states carry it, and only states of this game are restored.
    game: String,
}

/// A saved emulator: ALE's system state (the console, the cartridge, ALE's generator and its frame counters) as
/// the bytes ALE encodes it to, with the game it belongs to and the SHA-256 of those bytes. ALE aborts the
/// process on malformed state bytes, so [`Emulator::restore_state`] hands it only bytes whose digest matches.
///
/// Not in it: the action ALE repeats on a sticky draw, which ALE 0.6 does not save; after a restore it is NOOP,
/// so with `repeat_action_probability > 0` the first frame after a restore can differ from the original run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EmulatorState {
    pub game: String,
    pub bytes: Vec<u8>,
    pub sha256: String,
}

/// Lower-case hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

// SAFETY: an ALEInterface owns all of its state (the emulator, its settings and its generator); nothing in it is
// shared with another instance or tied to the thread that created it, so moving it to another thread is sound.
// It is not Sync: every method takes `&mut self` or reads through a raw pointer without synchronisation.
unsafe impl Send for Emulator {}

impl Emulator {
    /// Loads `rom` with `settings`; the game is reset and ready to play.
    pub fn open(rom: &Rom, settings: &EmulatorSettings) -> Result<Emulator> {
        let path = CString::new(rom.path.to_string_lossy().as_bytes())
            .map_err(|_| Error::Io(format!("ROM path {} contains a NUL byte", rom.path.display())))?;
        let _guard = OPEN.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        // SAFETY: setLoggerMode writes ALE's global logger level (2 = errors only); calls are serialised by OPEN.
        unsafe { sys::setLoggerMode(2) };
        // SAFETY: ALE_new returns a fresh heap object or aborts on allocation failure; it is owned by `emulator`
        // from here on and deleted exactly once in Drop.
        let raw = unsafe { sys::ALE_new() };
        if raw.is_null() {
            return Err(Error::Device("ALE_new returned no emulator".into()));
        }
        let mut emulator = Emulator { raw, minimal_actions: Vec::new(), game: rom.game.id() };
        emulator.set_int("random_seed", settings.random_seed);
        emulator.set_float("repeat_action_probability", settings.repeat_action_probability);
        emulator.set_int("frame_skip", 1);
        emulator.set_int("max_num_frames_per_episode", 0);
        emulator.set_bool("color_averaging", false);
        // SAFETY: the file exists and its md5 is one of the ROMs ALE 0.6 supports under this file name (checked
        // by `Rom`), which are the conditions under which loadROM returns instead of exiting the process.
        unsafe { sys::loadROM(emulator.raw, path.as_ptr()) };

        emulator.minimal_actions = emulator.read_actions(sys::getMinimalActionSize, sys::getMinimalActionSet);
        if let Some(mode) = settings.mode {
            let modes = emulator.modes();
            if !modes.contains(&mode) {
                return Err(bad_setting(rom, "mode", mode, &modes));
            }
            // SAFETY: `mode` is one the game lists, so setMode does not throw.
            unsafe { sys::setMode(emulator.raw, mode as i32) };
        }
        if let Some(difficulty) = settings.difficulty {
            let difficulties = emulator.difficulties();
            if !difficulties.contains(&difficulty) {
                return Err(bad_setting(rom, "difficulty", difficulty, &difficulties));
            }
            // SAFETY: `difficulty` is one the game lists, so setDifficulty does not throw.
            unsafe { sys::setDifficulty(emulator.raw, difficulty as i32) };
        }
        if settings.mode.is_some() || settings.difficulty.is_some() {
            emulator.reset();
        }
        Ok(emulator)
    }

    fn set_int(&mut self, key: &str, value: i32) {
        let key = CString::new(key).expect("setting names have no NUL");
        // SAFETY: `raw` is live; ALE copies the key.
        unsafe { sys::setInt(self.raw, key.as_ptr(), value) };
    }

    fn set_float(&mut self, key: &str, value: f32) {
        let key = CString::new(key).expect("setting names have no NUL");
        // SAFETY: `raw` is live; ALE copies the key.
        unsafe { sys::setFloat(self.raw, key.as_ptr(), value) };
    }

    fn set_bool(&mut self, key: &str, value: bool) {
        let key = CString::new(key).expect("setting names have no NUL");
        // SAFETY: `raw` is live; ALE copies the key.
        unsafe { sys::setBool(self.raw, key.as_ptr(), value) };
    }

    fn read_actions(
        &self,
        size: unsafe extern "C" fn(*mut sys::ALEInterface) -> i32,
        fill: unsafe extern "C" fn(*mut sys::ALEInterface, *mut i32),
    ) -> Vec<u8> {
        // SAFETY: `raw` is live and a ROM is loaded; `fill` writes exactly `size()` ints into a buffer that long.
        let ids = unsafe {
            let n = size(self.raw).max(0) as usize;
            let mut ids = vec![0i32; n];
            fill(self.raw, ids.as_mut_ptr());
            ids
        };
        ids.into_iter().map(|id| id as u8).collect()
    }

    fn read_list(
        &self,
        size: unsafe extern "C" fn(*mut sys::ALEInterface) -> i32,
        fill: unsafe extern "C" fn(*mut sys::ALEInterface, *mut i32),
    ) -> Vec<u32> {
        // SAFETY: as in read_actions.
        unsafe {
            let n = size(self.raw).max(0) as usize;
            let mut values = vec![0i32; n];
            fill(self.raw, values.as_mut_ptr());
            values.into_iter().map(|v| v as u32).collect()
        }
    }

    /// The game's minimal action set, as ALE action ids.
    pub fn minimal_actions(&self) -> &[u8] {
        &self.minimal_actions
    }

    /// The game modes ALE knows for this ROM.
    pub fn modes(&self) -> Vec<u32> {
        self.read_list(sys::getAvailableModesSize, sys::getAvailableModes)
    }

    /// The difficulty switch settings ALE knows for this ROM.
    pub fn difficulties(&self) -> Vec<u32> {
        self.read_list(sys::getAvailableDifficultiesSize, sys::getAvailableDifficulties)
    }

    /// Emulates one frame with ALE action id `action` (< 18) and returns the frame's reward.
    pub fn act(&mut self, action: u8) -> i32 {
        debug_assert!((action as usize) < LEGAL_ACTIONS);
        // SAFETY: `raw` is live; ids below 18 are valid `ale::Action` values (checked by every caller).
        unsafe { sys::act(self.raw, action.min(LEGAL_ACTIONS as u8 - 1) as i32) }
    }

    /// Whether the game is over (the ROM's terminal condition; no frame cap is set in ALE).
    pub fn game_over(&self) -> bool {
        // SAFETY: `raw` is live.
        unsafe { sys::game_over(self.raw) }
    }

    /// Resets the game: ALE's 60 no-op frames, a console reset and the game's starting actions.
    pub fn reset(&mut self) {
        // SAFETY: `raw` is live.
        unsafe { sys::reset_game(self.raw) }
    }

    pub fn lives(&self) -> i32 {
        // SAFETY: `raw` is live and a ROM is loaded (lives throws only without one).
        unsafe { sys::lives(self.raw) }
    }

    /// Frames emulated since the ROM was loaded.
    pub fn frame_number(&self) -> i32 {
        // SAFETY: `raw` is live.
        unsafe { sys::getFrameNumber(self.raw) }
    }

    /// Frames emulated since the last reset.
    pub fn episode_frame_number(&self) -> i32 {
        // SAFETY: `raw` is live.
        unsafe { sys::getEpisodeFrameNumber(self.raw) }
    }

    /// Writes the 210×160 grayscale screen (row-major) into `out`.
    pub fn screen_grayscale(&self, out: &mut [u8]) {
        assert_eq!(out.len(), SCREEN_BYTES, "grayscale screen buffer");
        // SAFETY: `raw` is live; ALE writes width × height = SCREEN_BYTES bytes into `out`, which is that long.
        unsafe { sys::getScreenGrayscale(self.raw, out.as_mut_ptr()) }
    }

    /// Writes the 210×160×3 RGB screen (row-major, channels last) into `out`.
    pub fn screen_rgb(&self, out: &mut [u8]) {
        assert_eq!(out.len(), 3 * SCREEN_BYTES, "RGB screen buffer");
        // SAFETY: `raw` is live; ALE writes 3 bytes per pixel, 3 × SCREEN_BYTES in all, into `out`.
        unsafe { sys::getScreenRGB(self.raw, out.as_mut_ptr()) }
    }

    /// The loaded game's id (`ALE/<Game>-v5`).
    pub fn game(&self) -> &str {
        &self.game
    }

    /// Saves the emulator's state (see [`EmulatorState`]).
    pub fn save_state(&self) -> EmulatorState {
        // SAFETY: `raw` is live. cloneSystemState returns a fresh heap ALEState that is deleted below; encodeState
        // writes exactly encodeStateLen bytes into `bytes`, which is that long.
        let bytes = unsafe {
            let state = sys::cloneSystemState(self.raw);
            let len = sys::encodeStateLen(state).max(0);
            let mut bytes = vec![0u8; len as usize];
            sys::encodeState(state, bytes.as_mut_ptr() as *mut c_char, len);
            sys::deleteState(state);
            bytes
        };
        EmulatorState { game: self.game.clone(), sha256: sha256_hex(&bytes), bytes }
    }

    /// Restores a state saved by [`Emulator::save_state`] on an emulator of the same game; a state of another
    /// game, or whose bytes do not match their digest, is an error and never reaches ALE.
    pub fn restore_state(&mut self, state: &EmulatorState) -> Result<()> {
        if state.game != self.game {
            return Err(Error::Io(format!(
                "an emulator state of {} cannot be restored into {}",
                state.game, self.game
            )));
        }
        if state.bytes.is_empty() || state.bytes.len() > i32::MAX as usize || sha256_hex(&state.bytes) != state.sha256 {
            return Err(Error::Io(format!(
                "a saved {} emulator state is corrupt (its SHA-256 does not match)",
                self.game
            )));
        }
        // SAFETY: `raw` is live. The bytes are exactly what encodeState wrote for this game (their digest matches),
        // so decodeState parses them and restoreSystemState finds the system information and cartridge it checks
        // for; the decoded ALEState is deleted once restored.
        unsafe {
            let decoded = sys::decodeState(state.bytes.as_ptr() as *const c_char, state.bytes.len() as i32);
            sys::restoreSystemState(self.raw, decoded);
            sys::deleteState(decoded);
        }
        Ok(())
    }

    /// Copies the 128 bytes of console RAM into `out`.
    pub fn ram(&self, out: &mut [u8; RAM_BYTES]) {
        // SAFETY: `raw` is live; the 2600's RAM is 128 bytes, which ALE copies into `out`.
        unsafe { sys::getRAM(self.raw, out.as_mut_ptr()) }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        // SAFETY: `raw` came from ALE_new and is deleted only here.
        unsafe { sys::ALE_del(self.raw) }
    }
}

fn bad_setting(rom: &Rom, key: &str, value: u32, valid: &[u32]) -> Error {
    Error::BadConfigValue {
        env: rom.game.id(),
        key: key.into(),
        reason: format!("{value} is not available for this game; available: {valid:?}"),
    }
}
