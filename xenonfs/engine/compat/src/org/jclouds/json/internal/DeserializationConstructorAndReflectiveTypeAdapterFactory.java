/*
 * xenonfs compatibility class for the xenon-grpc 3.0.1 engine jar. Written for xenonfs
 * (Apache-2.0); it replaces the jclouds class of the same name, which the JVM finds first
 * because xenonfs puts this directory before the jar on the class path.
 *
 * Why it exists: the engine jar bundles jclouds 2.1.2 (its s3 adaptor) together with
 * gson 2.7. jclouds 2.1.2 was compiled against gson 2.5 and builds gson's
 * ReflectiveTypeAdapterFactory with a 3-argument constructor that gson 2.6+ no longer
 * has; gson 2.7 wants a fourth argument, the factory for @JsonAdapter annotations. The
 * first JSON use (which every s3 file system makes while it is created) therefore dies
 * with NoSuchMethodError, seen through gRPC as UNKNOWN with empty details. This class
 * does what jclouds' own does, and calls the 4-argument constructor.
 *
 * Behaviour (as in jclouds): types whose constructor is marked for deserialization
 * (@Inject/@ConstructorProperties/@SerializedNames with named parameters) are read
 * through that constructor; everything is written by gson's reflective adapter. For
 * abstract types built by a static factory (AutoValue), the generated AutoValue_ class
 * is the one serialized. Primitive parameters default to 0/false, absent Optionals to
 * Optional.absent(), and "{}" reads as null when the constructor rejects it with an NPE.
 *
 * Build: python -m xenonfs.engine.compat (javac --release 8 against the engine jar);
 * tests/test_engine_compat.py checks the shipped classes are what this source compiles to.
 */
package org.jclouds.json.internal;

import java.io.IOException;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Modifier;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import com.google.common.base.Optional;
import com.google.common.base.Preconditions;
import com.google.common.reflect.Invokable;
import com.google.common.reflect.Parameter;
import com.google.gson.FieldNamingStrategy;
import com.google.gson.Gson;
import com.google.gson.JsonSyntaxException;
import com.google.gson.TypeAdapter;
import com.google.gson.TypeAdapterFactory;
import com.google.gson.internal.ConstructorConstructor;
import com.google.gson.internal.Excluder;
import com.google.gson.internal.bind.JsonAdapterAnnotationTypeAdapterFactory;
import com.google.gson.internal.bind.ReflectiveTypeAdapterFactory;
import com.google.gson.reflect.TypeToken;
import com.google.gson.stream.JsonReader;
import com.google.gson.stream.JsonToken;
import com.google.gson.stream.JsonWriter;
import org.jclouds.json.internal.NamingStrategies.AnnotationConstructorNamingStrategy;
import org.jclouds.reflect.Reflection2;

public final class DeserializationConstructorAndReflectiveTypeAdapterFactory implements TypeAdapterFactory {
    private final AnnotationConstructorNamingStrategy constructorNaming;
    private final ReflectiveTypeAdapterFactory reflective;

    /** The signature jclouds' GsonModule calls. */
    public DeserializationConstructorAndReflectiveTypeAdapterFactory(ConstructorConstructor constructors,
            FieldNamingStrategy fieldNaming, Excluder excluder,
            AnnotationConstructorNamingStrategy constructorNaming) {
        this.constructorNaming = Preconditions.checkNotNull(constructorNaming, "deserializationFieldNamingPolicy");
        // The one real change: gson 2.7's constructor takes the @JsonAdapter factory too.
        this.reflective = new ReflectiveTypeAdapterFactory(constructors,
                Preconditions.checkNotNull(fieldNaming, "fieldNamingPolicy"),
                Preconditions.checkNotNull(excluder, "excluder"),
                new JsonAdapterAnnotationTypeAdapterFactory(constructors));
    }

    @Override
    @SuppressWarnings("unchecked")
    public <T> TypeAdapter<T> create(Gson gson, TypeToken<T> type) {
        Invokable<T, T> constructor = constructorNaming.getDeserializer(Reflection2.typeToken(type.getType()));
        if (constructor == null) {
            return null; // not ours: gson picks its own adapter
        }
        TypeToken<T> written = type;
        Class<? super T> raw = type.getRawType();
        if (Modifier.isAbstract(raw.getModifiers()) && constructor.isStatic()) {
            // AutoValue (source retention, invisible at run time): its generated class has the fields.
            String pkg = raw.getPackage().getName();
            String generated = raw.getName().replace('$', '_').replace(pkg + ".", pkg + ".AutoValue_");
            try {
                written = (TypeToken<T>) TypeToken.get(raw.getClassLoader().loadClass(generated));
            } catch (ClassNotFoundException notAutoValue) {
                // keep the abstract type
            }
        }
        return new ConstructorAdapter<T>(reflective.create(gson, written), constructor,
                parameterAdapters(gson, constructor));
    }

    /** Returns: for each JSON name, the position and adapter of its constructor parameter. */
    private <T> Map<String, Slot> parameterAdapters(Gson gson, Invokable<T, T> constructor) {
        Map<String, Slot> slots = new HashMap<String, Slot>();
        List<Parameter> parameters = constructor.getParameters();
        for (int i = 0; i < parameters.size(); i++) {
            String name = constructorNaming.translateName(constructor, i);
            Preconditions.checkArgument(name != null, "%s parameter %s failed to be named by %s",
                    constructor, i, constructorNaming);
            slots.put(name, new Slot(i, gson.getAdapter(TypeToken.get(parameters.get(i).getType().getType()))));
        }
        return slots;
    }

    /** One constructor parameter: where it goes and how to read it. */
    private static final class Slot {
        final int position;
        final TypeAdapter<?> adapter;

        Slot(int position, TypeAdapter<?> adapter) {
            this.position = position;
            this.adapter = adapter;
        }
    }

    /** Reads through the marked constructor, writes through gson's reflective adapter. */
    private static final class ConstructorAdapter<T> extends TypeAdapter<T> {
        private final TypeAdapter<T> writer;
        private final Invokable<T, T> constructor;
        private final Map<String, Slot> slots;

        ConstructorAdapter(TypeAdapter<T> writer, Invokable<T, T> constructor, Map<String, Slot> slots) {
            this.writer = writer;
            this.constructor = constructor;
            this.slots = slots;
        }

        @Override
        public void write(JsonWriter out, T value) throws IOException {
            writer.write(out, value);
        }

        @Override
        public T read(JsonReader in) throws IOException {
            if (in.peek() == JsonToken.NULL) {
                in.nextNull();
                return null;
            }
            List<Parameter> parameters = constructor.getParameters();
            Object[] values = new Object[parameters.size()];
            for (int i = 0; i < values.length; i++) {
                Class<?> raw = parameters.get(i).getType().getRawType();
                if (raw == boolean.class) {
                    values[i] = Boolean.FALSE;
                } else if (raw.isPrimitive()) {
                    values[i] = 0;
                }
            }
            boolean empty = true;
            try {
                in.beginObject();
                while (in.hasNext()) {
                    empty = false;
                    Slot slot = slots.get(in.nextName());
                    if (slot == null || in.peek() == JsonToken.NULL) {
                        in.skipValue();
                        continue;
                    }
                    Object value = slot.adapter.read(in);
                    if (value != null) {
                        values[slot.position] = value;
                    }
                }
            } catch (IllegalStateException e) {
                throw new JsonSyntaxException(e);
            }
            in.endObject();
            for (int i = 0; i < values.length; i++) {
                if (values[i] == null && parameters.get(i).getType().getRawType() == Optional.class) {
                    values[i] = Optional.absent();
                }
            }
            try {
                return constructor.invoke(null, values);
            } catch (NullPointerException e) {
                if (empty && values.length > 0) {
                    return null; // "{}" for a type that needs values: treated as null
                }
                throw e;
            } catch (IllegalAccessException e) {
                throw new AssertionError(e);
            } catch (InvocationTargetException e) {
                if (e.getCause() instanceof RuntimeException) {
                    throw (RuntimeException) e.getCause();
                }
                throw new AssertionError(e);
            }
        }
    }
}
