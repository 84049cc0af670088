//! Atari env ids and kwargs: Gymnasium's `ALE/<Game>-v5` and `<Game>NoFrameskip-v4` with their defaults, plus
//! the preprocessing (Gymnasium's `AtariPreprocessing`, DeepMind's wrappers, frame stacking, a step cap) and the
//! named presets that fix it for a protocol.

use crate::roms::Game;
use myriad_envs::config::ConfigReader;
use myriad_envs::registry::distance;
use myriad_envs::{EnvConfig, Error, Result};

/// What the emulator hands out per step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ObsType {
    /// 210×160×3 colour screen.
    Rgb,
    /// 210×160 grayscale screen.
    Grayscale,
    /// The 128 bytes of console RAM.
    Ram,
}

/// The two id families Gymnasium registers for each game.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdVersion {
    /// `ALE/<Game>-v5`: frameskip 4, sticky actions 0.25, 108,000-frame cap.
    V5,
    /// `<Game>NoFrameskip-v4`: frameskip 1, no sticky actions, TimeLimit of 400,000 steps.
    NoFrameskipV4,
}

/// The raw emulator env, Gymnasium's `AtariEnv` kwargs.
#[derive(Clone, Debug, PartialEq)]
pub struct AleConfig {
    pub game: Game,
    pub version: IdVersion,
    /// Emulator frames per `step`, the action held throughout (v5: 4, NoFrameskip-v4: 1).
    pub frameskip: u32,
    /// Probability of repeating the previous action on each emulator frame (v5: 0.25, v4: 0).
    pub repeat_action_probability: f32,
    /// Use all 18 ALE actions instead of the game's minimal set.
    pub full_action_space: bool,
    /// Game mode (`None`: the game's default).
    pub mode: Option<u32>,
    /// Game difficulty (`None`: the game's default).
    pub difficulty: Option<u32>,
    /// Truncate an episode after this many emulator frames (v5: 108,000; `0`: no cap).
    pub max_num_frames_per_episode: u32,
    /// Observation kind.
    pub obs_type: ObsType,
    /// TimeLimit in steps of the raw env (v4: 400,000; `0`: none).
    pub max_episode_steps: u32,
}

/// Preprocessing on top of a frameskip-1 emulator: Gymnasium's `AtariPreprocessing` and the DeepMind wrappers.
#[derive(Clone, Debug, PartialEq)]
pub struct Preprocessing {
    /// Up to this many no-op frames after every reset, drawn uniformly in `1..=noop_max` (`0`: none).
    pub noop_max: u32,
    /// Emulator frames per agent step; the observation is the pixel-wise max of the last two.
    pub frame_skip: u32,
    /// Side of the square observation (area interpolation, as OpenCV's INTER_AREA).
    pub screen_size: u32,
    /// Grayscale (`true`) or RGB observations.
    pub grayscale: bool,
    /// A lost life ends the episode for the learner; the game goes on from there at the next reset
    /// (DeepMind's `EpisodicLifeEnv`). Episode statistics still count whole games.
    pub terminal_on_life_loss: bool,
    /// Step with actions 1 (FIRE) and 2 after every reset, for games that wait for FIRE (DeepMind's `FireResetEnv`).
    pub fire_reset: bool,
    /// Rewards given to the learner are clipped to their sign; statistics keep the game's score.
    pub clip_rewards: bool,
    /// Observations stack the last this many frames, oldest first (`1`: no stacking).
    pub frame_stack: u32,
    /// Truncate a game after this many agent steps (`0`: no cap; 27,000 steps are 108,000 frames).
    pub max_episode_steps: u32,
}

impl Default for Preprocessing {
    /// Gymnasium's `AtariPreprocessing` defaults, a stack of 4 and the 27,000-step cap.
    fn default() -> Self {
        Self {
            noop_max: 30,
            frame_skip: 4,
            screen_size: 84,
            grayscale: true,
            terminal_on_life_loss: false,
            fire_reset: false,
            clip_rewards: false,
            frame_stack: 4,
            max_episode_steps: 27_000,
        }
    }
}

/// Named preprocessing protocols.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Preset {
    /// The raw emulator env, exactly Gymnasium's.
    None,
    /// `AtariPreprocessing` defaults with a stack of 4 and the 27,000-step cap (EnvPool's Atari defaults).
    Standard,
    /// The Atari 100k protocol: no sticky actions, life loss ends training episodes, 27,000-step cap, clipped
    /// rewards, minimal action set, up to 30 no-ops.
    Atari100k,
    /// Machado et al. (2018): sticky actions 0.25, no life-loss signal, no no-ops, full action set, clipped
    /// rewards, 27,000-step cap.
    Machado,
}

impl Preset {
    const NAMES: &'static [&'static str] = &["none", "standard", "atari100k", "machado"];

    fn parse(name: &str) -> Option<Preset> {
        Some(match name {
            "none" => Preset::None,
            "standard" => Preset::Standard,
            "atari100k" => Preset::Atari100k,
            "machado" => Preset::Machado,
            _ => return None,
        })
    }
}

/// A fully resolved Atari env: emulator settings and optional preprocessing.
#[derive(Clone, Debug, PartialEq)]
pub struct AtariConfig {
    pub ale: AleConfig,
    /// `None`: the raw env.
    pub preprocessing: Option<Preprocessing>,
}

/// Splits an id into its game and version; `None` when the id is not an Atari id.
pub fn parse_id(id: &str) -> Option<(Option<Game>, IdVersion, String)> {
    if let Some(rest) = id.strip_prefix("ALE/") {
        let name = rest.strip_suffix("-v5")?;
        return Some((Game::from_name(name), IdVersion::V5, name.to_string()));
    }
    let name = id.strip_suffix("NoFrameskip-v4")?;
    Some((Game::from_name(name), IdVersion::NoFrameskipV4, name.to_string()))
}

/// Whether `id` names an Atari env (known game or not).
pub fn is_atari_id(id: &str) -> bool {
    parse_id(id).is_some()
}

/// Every Atari id, v5 first.
pub fn registered_ids() -> Vec<String> {
    let mut ids: Vec<String> = Game::all().map(|g| g.id()).collect();
    ids.extend(Game::all().map(|g| format!("{}NoFrameskip-v4", g.name())));
    ids
}

impl AtariConfig {
    /// Reads Gymnasium's kwargs and the preprocessing keys for `id`.
    pub fn from_env_config(id: &str, config: &EnvConfig) -> Result<AtariConfig> {
        let Some((game, version, name)) = parse_id(id) else {
            return Err(Error::UnknownEnv { id: id.into(), suggestions: Vec::new() });
        };
        let game = game.ok_or_else(|| Error::UnknownEnv { id: id.into(), suggestions: suggest(&name, version) })?;
        let mut r = ConfigReader::new(id, config);

        let preset_name = r.string_opt("preset")?.unwrap_or_else(|| "none".into());
        let preset = Preset::parse(&preset_name).ok_or_else(|| {
            r.error("preset", format!("`{preset_name}` is not a preset; presets: {}", Preset::NAMES.join(", ")))
        })?;
        let (v5, v4) = (version == IdVersion::V5, version == IdVersion::NoFrameskipV4);
        let base_sticky = match preset {
            Preset::Atari100k => 0.0,
            Preset::Machado => 0.25,
            _ if v5 => 0.25,
            _ => 0.0,
        };
        let preprocessing = preset != Preset::None;
        let frameskip_given = config.get("frameskip").is_some_and(|v| !v.is_null());
        let frameskip = r.u32_opt("frameskip")?.unwrap_or(if v5 && !preprocessing { 4 } else { 1 });
        let repeat_action_probability = r.f32("repeat_action_probability", base_sticky)?;
        if !(0.0..=1.0).contains(&repeat_action_probability) {
            return Err(r.error("repeat_action_probability", "must lie in [0, 1]"));
        }
        let full_action_space = r.bool("full_action_space", preset == Preset::Machado)?;
        let mode = r.u32_opt("mode")?;
        let difficulty = r.u32_opt("difficulty")?;
        let max_num_frames_per_episode =
            r.u32_opt("max_num_frames_per_episode")?.unwrap_or(if v5 { 108_000 } else { 0 });
        let obs_type = match r.string_opt("obs_type")?.as_deref().unwrap_or("rgb") {
            "rgb" => ObsType::Rgb,
            "grayscale" => ObsType::Grayscale,
            "ram" => ObsType::Ram,
            other => return Err(r.error("obs_type", format!("`{other}` is not one of rgb, grayscale, ram"))),
        };
        let max_episode_steps = r.u32_opt("max_episode_steps")?;
        if frameskip == 0 {
            return Err(r.error("frameskip", "must be at least 1"));
        }

        let defaults = Preprocessing {
            noop_max: if preset == Preset::Machado { 0 } else { 30 },
            terminal_on_life_loss: preset == Preset::Atari100k,
            clip_rewards: matches!(preset, Preset::Atari100k | Preset::Machado),
            ..Preprocessing::default()
        };
        let p = Preprocessing {
            noop_max: r.u32_opt("noop_max")?.unwrap_or(defaults.noop_max),
            frame_skip: r.u32_opt("frame_skip")?.unwrap_or(defaults.frame_skip),
            screen_size: r.u32_opt("screen_size")?.unwrap_or(defaults.screen_size),
            grayscale: r.bool("grayscale_obs", defaults.grayscale)?,
            terminal_on_life_loss: r.bool("terminal_on_life_loss", defaults.terminal_on_life_loss)?,
            fire_reset: r.bool("fire_reset", defaults.fire_reset)?,
            clip_rewards: r.bool("clip_rewards", defaults.clip_rewards)?,
            frame_stack: r.u32_opt("frame_stack")?.unwrap_or(defaults.frame_stack),
            max_episode_steps: max_episode_steps.unwrap_or(defaults.max_episode_steps),
        };
        r.finish()?;

        let preprocessing_keys = ["noop_max", "frame_skip", "screen_size", "grayscale_obs", "terminal_on_life_loss"]
            .into_iter()
            .chain(["fire_reset", "clip_rewards", "frame_stack"]);
        let bad = |key: &str, reason: String| Error::BadConfigValue { env: id.into(), key: key.into(), reason };
        if !preprocessing {
            if let Some(key) = preprocessing_keys.into_iter().find(|k| config.get(k).is_some_and(|v| !v.is_null())) {
                return Err(bad(
                    key,
                    "a preprocessing key; choose a preset (preset=standard, atari100k or machado) to preprocess".into(),
                ));
            }
        } else {
            if frameskip_given && frameskip > 1 && p.frame_skip > 1 {
                return Err(bad(
                    "frameskip",
                    "preprocessing skips frames itself (frame_skip); the emulator's frameskip must be 1".into(),
                ));
            }
            if obs_type == ObsType::Ram {
                return Err(bad("obs_type", "preprocessing works on screens, not on RAM".into()));
            }
            if p.frame_skip == 0 || p.frame_stack == 0 || p.screen_size == 0 {
                let key = if p.frame_skip == 0 {
                    "frame_skip"
                } else if p.frame_stack == 0 {
                    "frame_stack"
                } else {
                    "screen_size"
                };
                return Err(bad(key, "must be at least 1".into()));
            }
            if p.screen_size > 160 {
                return Err(bad(
                    "screen_size",
                    format!(
                        "{} is larger than the 210×160 screen's width (area interpolation only shrinks)",
                        p.screen_size
                    ),
                ));
            }
        }
        let ale = AleConfig {
            game,
            version,
            frameskip,
            repeat_action_probability,
            full_action_space,
            mode,
            difficulty,
            max_num_frames_per_episode,
            obs_type,
            max_episode_steps: match (preprocessing, max_episode_steps) {
                (true, _) => 0,
                (false, Some(steps)) => steps,
                (false, None) if v4 => 400_000,
                (false, None) => 0,
            },
        };
        Ok(AtariConfig { ale, preprocessing: preprocessing.then_some(p) })
    }

    /// The shape of one observation: `[stack, size, size]` (grayscale) or `[stack, size, size, 3]` preprocessed,
    /// `[210, 160, 3]`, `[210, 160]` or `[128]` raw.
    pub fn observation_shape(&self) -> Vec<usize> {
        match &self.preprocessing {
            Some(p) => {
                let s = p.screen_size as usize;
                let mut shape = vec![p.frame_stack as usize, s, s];
                if !p.grayscale {
                    shape.push(3);
                }
                shape
            }
            None => match self.ale.obs_type {
                ObsType::Rgb => vec![210, 160, 3],
                ObsType::Grayscale => vec![210, 160],
                ObsType::Ram => vec![128],
            },
        }
    }

    /// Bytes of one observation.
    pub fn observation_bytes(&self) -> usize {
        self.observation_shape().iter().product()
    }
}

fn suggest(name: &str, version: IdVersion) -> Vec<String> {
    let lower = name.to_ascii_lowercase().replace('_', "");
    let mut close: Vec<(usize, Game)> =
        Game::all().map(|g| (distance(&g.name().to_ascii_lowercase(), &lower), g)).filter(|(d, _)| *d <= 3).collect();
    close.sort_by_key(|(d, _)| *d);
    close
        .into_iter()
        .take(3)
        .map(|(_, g)| match version {
            IdVersion::V5 => g.id(),
            IdVersion::NoFrameskipV4 => format!("{}NoFrameskip-v4", g.name()),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(id: &str, kv: &str) -> Result<AtariConfig> {
        AtariConfig::from_env_config(id, &kv.parse().unwrap())
    }

    #[test]
    fn ids_carry_gymnasium_defaults() {
        let v5 = read("ALE/Pong-v5", "").unwrap();
        assert_eq!((v5.ale.frameskip, v5.ale.repeat_action_probability), (4, 0.25));
        assert_eq!((v5.ale.max_num_frames_per_episode, v5.ale.max_episode_steps), (108_000, 0));
        assert_eq!(v5.observation_shape(), vec![210, 160, 3]);
        assert!(v5.preprocessing.is_none());
        let v4 = read("BreakoutNoFrameskip-v4", "obs_type=ram").unwrap();
        assert_eq!((v4.ale.frameskip, v4.ale.repeat_action_probability), (1, 0.0));
        assert_eq!(v4.ale.max_episode_steps, 400_000);
        assert_eq!(v4.observation_shape(), vec![128]);
    }

    #[test]
    fn presets_fix_the_protocols() {
        let a = read("ALE/Pong-v5", "preset=atari100k").unwrap();
        let p = a.preprocessing.as_ref().unwrap();
        assert_eq!((a.ale.frameskip, a.ale.repeat_action_probability, a.ale.full_action_space), (1, 0.0, false));
        assert!(p.terminal_on_life_loss && p.clip_rewards);
        assert_eq!((p.noop_max, p.frame_skip, p.frame_stack, p.max_episode_steps), (30, 4, 4, 27_000));
        assert_eq!(a.observation_shape(), vec![4, 84, 84]);
        let m = read("ALE/Pong-v5", "preset=machado,frame_stack=2").unwrap();
        let p = m.preprocessing.as_ref().unwrap();
        assert_eq!((m.ale.repeat_action_probability, m.ale.full_action_space), (0.25, true));
        assert!(!p.terminal_on_life_loss && p.noop_max == 0 && p.frame_stack == 2);
    }

    #[test]
    fn bad_ids_and_values_are_named() {
        let err = read("ALE/Pongg-v5", "").unwrap_err().to_string();
        assert!(err.contains("ALE/Pong-v5"), "{err}");
        let err = read("ALE/Pong-v5", "noop_max=3").unwrap_err().to_string();
        assert!(err.contains("preset"), "{err}");
        let err = read("ALE/Pong-v5", "preset=standard,frameskip=4").unwrap_err().to_string();
        assert!(err.contains("frameskip"), "{err}");
        let err = read("ALE/Pong-v5", "preset=fast").unwrap_err().to_string();
        assert!(err.contains("atari100k"), "{err}");
        let err = read("ALE/Pong-v5", "obs_type=depth").unwrap_err().to_string();
        assert!(err.contains("obs_type"), "{err}");
        let err = read("ALE/Pong-v5", "repeat_action_probability=1.5").unwrap_err().to_string();
        assert!(err.contains("[0, 1]"), "{err}");
        assert!(read("ALE/Pong-v5", "sticky=0").unwrap_err().to_string().contains("valid keys"));
        let err = read("ALE/Pong-v5", "preset=standard,screen_size=161").unwrap_err().to_string();
        assert!(err.contains("screen_size") && err.contains("only shrinks"), "{err}");
        assert!(read("ALE/Pong-v5", "preset=standard,screen_size=160").is_ok());
        assert!(!is_atari_id("CartPole-v1"));
    }
}
